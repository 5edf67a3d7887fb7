import { describe, expect, it } from 'vitest';
import { PgParser, RespParser } from '../src/wire.ts';

const resp = (...args: string[]) =>
  `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** Feed `bytes` split at every pair of points, so every boundary lands mid-token somewhere. */
function everySplit(bytes: Buffer, feed: (parts: Buffer[]) => void): void {
  for (let i = 0; i <= bytes.length; i += 3) {
    for (let j = i; j <= bytes.length; j += 7) {
      feed([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]);
    }
  }
}

describe('RespParser', () => {
  it('counts each command once, by name, however the bytes are split', () => {
    // A body with CRLFs and `*` inside a bulk string must not look like a command.
    const bytes = Buffer.from(
      resp('EVALSHA', 'abc', '1', 'k', '*2\r\n$3\r\nGET\r\n') +
        resp('set', 'k', 'v', 'NX', 'PX', '100') +
        resp('GET', ''),
    );
    everySplit(bytes, (parts) => {
      const seen: string[] = [];
      const parser = new RespParser((name) => seen.push(name));
      for (const part of parts) parser.feed(part);
      expect(seen).toEqual(['EVALSHA', 'SET', 'GET']);
    });
  });
});

describe('PgParser', () => {
  const message = (type: string, payload: Buffer) => {
    const head = Buffer.alloc(5);
    head.write(type, 0, 'latin1');
    head.writeInt32BE(payload.length + 4, 1);
    return Buffer.concat([head, payload]);
  };
  const startup = () => {
    const body = Buffer.from('\0\x03\0\0user\0postgres\0\0', 'latin1');
    const head = Buffer.alloc(4);
    head.writeInt32BE(body.length + 4);
    return Buffer.concat([head, body]);
  };

  it('counts one round trip per Sync and per simple Query, after the startup message', () => {
    const bytes = Buffer.concat([
      startup(),
      message('p', Buffer.from('secret\0')),
      message('Q', Buffer.from('BEGIN\0')),
      // An extended query: Parse, Bind, Describe, Execute, Sync; the S and Q inside payloads do not count.
      message('P', Buffer.from('\0SELECT $1 -- Q S\0\0\0')),
      message('B', Buffer.alloc(300, 0x53)),
      message('D', Buffer.from('P\0')),
      message('E', Buffer.from('\0\0\0\0\0')),
      message('S', Buffer.alloc(0)),
      message('Q', Buffer.from('COMMIT\0')),
    ]);
    everySplit(bytes, (parts) => {
      let trips = 0;
      const parser = new PgParser(() => trips++);
      for (const part of parts) parser.feed(part);
      expect(trips).toBe(3);
    });
  });
});
