#!/usr/bin/env node
// Marks one symbol-version requirement of an ELF64 little-endian shared object as weak
// (VER_FLG_WEAK in its .gnu.version_r Vernaux entry), so the dynamic loader accepts a libc that
// lacks that version; the symbols themselves then come from an LD_PRELOAD shim.
// usage: node patch-elf-weak.mjs <in.node> <out.node> [VERSION=GLIBC_2.38]
import { readFileSync, writeFileSync } from 'node:fs';

const SHT_GNU_VERNEED = 0x6ffffffe;
const VER_FLG_WEAK = 0x2;

export function markVersionWeak(buf, version) {
  if (buf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error('only ELF64 little-endian is supported');
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const section = (i) => {
    const o = shoff + i * shentsize;
    return {
      type: buf.readUInt32LE(o + 4),
      offset: Number(buf.readBigUInt64LE(o + 0x18)),
      size: Number(buf.readBigUInt64LE(o + 0x20)),
      link: buf.readUInt32LE(o + 0x28),
      info: buf.readUInt32LE(o + 0x2c),
    };
  };
  const cstr = (off) => buf.toString('latin1', off, buf.indexOf(0, off));
  let patched = 0;
  for (let i = 0; i < shnum; i++) {
    const sec = section(i);
    if (sec.type !== SHT_GNU_VERNEED) continue;
    const strtab = section(sec.link).offset;
    let vn = sec.offset;
    for (let n = 0; n < sec.info; n++) {
      const cnt = buf.readUInt16LE(vn + 2);
      let aux = vn + buf.readUInt32LE(vn + 8);
      for (let k = 0; k < cnt; k++) {
        const name = cstr(strtab + buf.readUInt32LE(aux + 8));
        if (name === version) {
          buf.writeUInt16LE(buf.readUInt16LE(aux + 4) | VER_FLG_WEAK, aux + 4);
          patched++;
        }
        aux += buf.readUInt32LE(aux + 12);
      }
      const next = buf.readUInt32LE(vn + 12);
      if (next === 0) break;
      vn += next;
    }
  }
  return patched;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [input, output, version = 'GLIBC_2.38'] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: node patch-elf-weak.mjs <in> <out> [VERSION]');
    process.exit(2);
  }
  const buf = readFileSync(input);
  const n = markVersionWeak(buf, version);
  writeFileSync(output, buf);
  console.log(`${output}: ${n} requirement(s) of ${version} marked weak`);
}
