import { TOKEN_ALPHABET } from "../../token.js";

/*
 * Redis Cluster's slot arithmetic: the CRC16 of a key's hash tag, and salts that place a tag in a
 * chosen slot range (see keys.ts for why).
 */

const SLOTS = 16384;

const CRC_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let j = 0; j < 8; j++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : crc << 1;
    table[i] = crc & 0xffff;
  }
  return table;
})();

/** CRC16-XMODEM, the checksum Redis Cluster hashes keys with. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes)
    crc = ((crc << 8) & 0xffff) ^ (CRC_TABLE[((crc >> 8) ^ b) & 0xff] as number);
  return crc;
}

/** The cluster slot of a key, honouring hash tags exactly as Redis does. */
export function keySlot(key: string): number {
  let hashed = key;
  const open = key.indexOf("{");
  if (open >= 0) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) hashed = key.slice(open + 1, close);
  }
  return crc16(Buffer.from(hashed, "utf8")) & (SLOTS - 1);
}

/**
 * CRC16 of every 3-character salt, indexed by its low 14 bits (a slot). CRC16-XMODEM is linear:
 * crc(prefix ‖ salt) = crc(prefix ‖ 0 0 0) ⊕ crc(salt) for a 3-byte salt, so one table serves
 * every prefix. 62³ salts cover all 16384 slots (built once, in about 20 ms).
 */
let saltTable: (string | undefined)[] | undefined;

function salts(): (string | undefined)[] {
  if (saltTable) return saltTable;
  const table: (string | undefined)[] = new Array(SLOTS);
  const bytes = new Uint8Array(3);
  for (const a of TOKEN_ALPHABET) {
    for (const b of TOKEN_ALPHABET) {
      for (const c of TOKEN_ALPHABET) {
        bytes[0] = a.charCodeAt(0);
        bytes[1] = b.charCodeAt(0);
        bytes[2] = c.charCodeAt(0);
        const slot = crc16(bytes) & (SLOTS - 1);
        table[slot] ??= a + b + c;
      }
    }
  }
  saltTable = table;
  return table;
}

/** The hash tag of bucket `b` of `app`: `app:b:salt`, hashing into the b-th slot range. */
export function bucketTag(app: string, bucket: number, buckets: number): string {
  const head = `${app}:${bucket}:`;
  const base = crc16(Buffer.from(`${head}\0\0\0`, "utf8"));
  const table = salts();
  const low = Math.floor((bucket * SLOTS) / buckets);
  const high = Math.max(low + 1, Math.floor(((bucket + 1) * SLOTS) / buckets));
  // Each app gets its own slot inside the range, so that apps together use many slots (and
  // so many masters of a big cluster) rather than the same `buckets` ones.
  const target = low + (crc16(Buffer.from(app, "utf8")) % (high - low));
  // The target slot almost always has a salt; otherwise the nearest slot that has one.
  for (let d = 0; d < SLOTS; d++) {
    for (const slot of [target - d, target + d]) {
      if (slot < 0 || slot >= SLOTS) continue;
      const salt = table[(base ^ slot) & (SLOTS - 1)];
      if (salt) return head + salt;
    }
  }
  throw new Error("unreachable: no salt for any slot");
}
