/**
 * Counts what a process sends to Redis and PostgreSQL, on the wire, whatever
 * the client library (ioredis, node-redis 4, @redis/client 1 and 6, pg).
 *
 * Every socket that connects to a watched port gets its `write` wrapped; the
 * bytes are parsed as the client half of the protocol:
 *
 * - Redis (RESP): each top-level array is one command. Pipelines and
 *   MULTI/EXEC blocks count one per command, so a peer that batches shows
 *   more commands than round trips (none of the ones measured here does).
 * - PostgreSQL: each Sync (`S`, end of an extended-protocol query) and each
 *   simple Query (`Q`) is one round trip: pg waits for ReadyForQuery before
 *   sending the next statement on a connection.
 *
 * Install it before any client connects.
 */
import net from 'node:net';

export type Protocol = 'resp' | 'pg';

interface Parser {
  feed(chunk: Uint8Array): void;
}

const counts: Record<Protocol, number> = { resp: 0, pg: 0 };
/** Redis commands by name. */
const names: Record<string, number> = {};

/** Commands (Redis) and round trips (PostgreSQL) sent so far by this process. */
export function wireCounts(): Readonly<Record<Protocol, number>> {
  return counts;
}

function countCommand(name: string): void {
  counts.resp++;
  names[name] = (names[name] ?? 0) + 1;
}

function countRoundTrip(): void {
  counts.pg++;
}

/** Redis commands sent so far, by name (`EVALSHA`, `SET`, …). */
export function redisCommands(): Readonly<Record<string, number>> {
  return names;
}

/** Parses the client half of RESP; calls `onCommand` with each command's name. */
export class RespParser implements Parser {
  readonly #onCommand: (name: string) => void;
  constructor(onCommand: (name: string) => void) {
    this.#onCommand = onCommand;
  }

  #line = '';
  /** Bulk strings still to read in the current command. */
  #items = 0;
  /** Bytes of the current bulk string (and its CRLF) still to skip. */
  #skip = 0;
  /** Reading the command's name (its first bulk string). */
  #naming = false;
  #name = '';

  feed(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        if (this.#naming) this.#name += latin1(chunk, i, n);
        this.#skip -= n;
        i += n;
        if (this.#skip === 0) {
          this.#items--;
          if (this.#naming) {
            this.#naming = false;
            this.#onCommand(this.#name.slice(0, -2).toUpperCase());
          }
        }
        continue;
      }
      const nl = chunk.indexOf(10, i);
      const end = nl === -1 ? chunk.length : nl;
      this.#line += latin1(chunk, i, end - i);
      if (nl === -1) return;
      i = nl + 1;
      const line = this.#line.endsWith('\r') ? this.#line.slice(0, -1) : this.#line;
      this.#line = '';
      if (this.#items === 0) {
        // A command: `*<n>` then n bulk strings, the first its name. (Clients never send inline commands.)
        if (line.startsWith('*')) this.#items = Number.parseInt(line.slice(1), 10) || 0;
        this.#naming = true;
        this.#name = '';
      } else if (line.startsWith('$')) {
        const length = Number.parseInt(line.slice(1), 10);
        if (length < 0) this.#items--;
        else this.#skip = length + 2;
      }
    }
  }
}

function latin1(chunk: Uint8Array, start: number, length: number): string {
  return Buffer.from(chunk.buffer, chunk.byteOffset + start, length).toString('latin1');
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/** Parses the frontend half of the PostgreSQL protocol; calls `onRoundTrip` per Sync or Query. */
export class PgParser implements Parser {
  readonly #onRoundTrip: () => void;
  constructor(onRoundTrip: () => void) {
    this.#onRoundTrip = onRoundTrip;
  }

  #started = false;
  #header = Buffer.alloc(8);
  #have = 0;
  #skip = 0;

  feed(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        i += n;
        continue;
      }
      // Untyped startup messages: int32 length, int32 code; typed: byte type, int32 length.
      const need = this.#started ? 5 : 8;
      const n = Math.min(need - this.#have, chunk.length - i);
      this.#header.set(chunk.subarray(i, i + n), this.#have);
      this.#have += n;
      i += n;
      if (this.#have < need) return;
      this.#have = 0;
      if (!this.#started) {
        const length = this.#header.readInt32BE(0);
        const code = this.#header.readInt32BE(4);
        this.#skip = length - 8;
        if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) this.#started = true;
      } else {
        const type = this.#header[0];
        if (type === 0x53 /* S */ || type === 0x51 /* Q */) this.#onRoundTrip();
        this.#skip = this.#header.readInt32BE(1) - 4;
      }
    }
  }
}

/** Start counting what sockets to these ports carry. */
export function watchPorts(ports: ReadonlyMap<number, Protocol>): void {
  const connect = net.Socket.prototype.connect as (...args: unknown[]) => net.Socket;
  net.Socket.prototype.connect = function watchedConnect(this: net.Socket, ...args: unknown[]) {
    const protocol = ports.get(portOf(args));
    // After connect(): it resets an instance's own `write` to the prototype's.
    const socket = connect.apply(this, args);
    if (protocol !== undefined)
      wrapWrite(
        this,
        protocol === 'resp' ? new RespParser(countCommand) : new PgParser(countRoundTrip),
      );
    return socket;
  } as typeof net.Socket.prototype.connect;
}

function portOf(args: unknown[]): number {
  // net.connect() passes normalized arguments: [[options, callback]].
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (typeof first === 'number') return first;
  if (typeof first === 'string' && /^\d+$/.test(first)) return Number(first);
  if (first && typeof first === 'object' && 'port' in first) return Number(first.port);
  return -1;
}

function wrapWrite(socket: net.Socket, parser: Parser): void {
  const write = socket.write;
  socket.write = function countedWrite(this: net.Socket, chunk: unknown, ...rest: unknown[]) {
    if (typeof chunk === 'string') {
      const encoding = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8';
      parser.feed(Buffer.from(chunk, encoding));
    } else if (chunk instanceof Uint8Array) {
      parser.feed(chunk);
    }
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof socket.write;
}
