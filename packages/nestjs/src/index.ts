/**
 * `@idem/nestjs`: Idempotency-Key for NestJS.
 *
 * @packageDocumentation
 */
export {};
