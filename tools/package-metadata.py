#!/usr/bin/env python3
"""Give every published package the same metadata: LICENSE, repository with
directory, homepage, bugs, keywords, and what npm publishes (no sources, no
dev-only export condition). Run from the repository root; idempotent."""
import json, os, shutil, sys

KEYWORDS = {
    'core': ['idempotency', 'idempotency-key', 'exactly-once', 'retry', 'deduplication'],
    'hono': ['idempotency', 'idempotency-key', 'hono', 'middleware', 'cloudflare-workers'],
    'express': ['idempotency', 'idempotency-key', 'express', 'middleware'],
    'fastify': ['idempotency', 'idempotency-key', 'fastify', 'fastify-plugin'],
    'store-memory': ['idempotency', 'idem-store', 'memory'],
    'store-redis': ['idempotency', 'idem-store', 'redis', 'ioredis', 'node-redis'],
    'store-postgres': ['idempotency', 'idem-store', 'postgres', 'postgresql', 'pg'],
    'store-mysql': ['idempotency', 'idem-store', 'mysql', 'mariadb', 'mysql2'],
    'store-dynamodb': ['idempotency', 'idem-store', 'dynamodb', 'aws'],
    'store-d1': ['idempotency', 'idem-store', 'cloudflare', 'd1', 'workers'],
    'store-durable-objects': ['idempotency', 'idem-store', 'cloudflare', 'durable-objects', 'workers'],
    'conformance': ['idempotency', 'conformance', 'test-suite', 'property-testing'],
    'client': ['idempotency', 'idempotency-key', 'fetch', 'retry', 'backoff'],
    'otel': ['idempotency', 'opentelemetry', 'tracing', 'metrics'],
}

def strip_source(exports):
    if isinstance(exports, dict):
        return {k: strip_source(v) for k, v in exports.items() if k != '@idem/source'}
    return exports

def main():
    for name in sorted(os.listdir('packages')):
        path = f'packages/{name}/package.json'
        if not os.path.exists(path):
            continue
        with open(path) as f:
            pkg = json.load(f)
        if pkg.get('private'):
            continue
        pkg['license'] = 'MIT'
        pkg['repository'] = {'type': 'git', 'url': 'git+https://github.com/idem-dev/idem.git', 'directory': f'packages/{name}'}
        pkg['homepage'] = f'https://github.com/idem-dev/idem/tree/main/packages/{name}#readme'
        pkg['bugs'] = {'url': 'https://github.com/idem-dev/idem/issues'}
        pkg['keywords'] = pkg.get('keywords') or KEYWORDS.get(name, ['idempotency'])
        # Sources stay in the repository: the `@idem/source` condition that
        # points at them is for the workspace's own tests and typecheck.
        files = [f for f in pkg.get('files', ['dist']) if f != 'src' and not f.startswith('!src')]
        for extra in ['README.md', 'LICENSE']:
            if extra not in files:
                files.append(extra)
        pkg['files'] = files
        publish = pkg.get('publishConfig', {})
        publish['exports'] = strip_source(pkg['exports'])
        publish.setdefault('access', 'public')
        pkg['publishConfig'] = publish
        order = ['name', 'version', 'description', 'keywords', 'homepage', 'bugs', 'repository', 'license']
        ordered = {k: pkg[k] for k in order if k in pkg}
        ordered.update({k: v for k, v in pkg.items() if k not in ordered})
        with open(path, 'w') as f:
            json.dump(ordered, f, indent=2)
            f.write('\n')
        shutil.copyfile('LICENSE', f'packages/{name}/LICENSE')
        print('ok', name)

if __name__ == '__main__':
    sys.exit(main())
