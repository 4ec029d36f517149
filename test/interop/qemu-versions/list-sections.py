#!/usr/bin/env python3
"""list-sections.py FILE.mig > FILE.sections.txt

Lists the records of a QEMU migration stream with their byte offsets: the expected result of
parsing, written by a reader that shares no code with savevm (it reproduces the listings of
test/fixtures/qemu-7.2 byte for byte). `ram` bodies are walked record by record (flags, block
names, pages); any other body ends at the first footer (0x7e, be32 section id) that is followed
by a record type byte.
"""
import struct
import sys

SECTION_NAMES = {1: 'START', 2: 'PART', 3: 'END', 4: 'FULL'}
COMMAND_NAMES = {1: 'OPEN_RETURN_PATH', 2: 'PING', 3: 'POSTCOPY_ADVISE', 4: 'POSTCOPY_LISTEN', 5: 'POSTCOPY_RUN',
                 6: 'POSTCOPY_RAM_DISCARD', 7: 'PACKAGED', 8: 'ENABLE_COLO', 9: 'POSTCOPY_RESUME', 10: 'RECV_BITMAP',
                 11: 'SWITCHOVER_START'}
PAGE = 4096
FLAG_ZERO, FLAG_MEM_SIZE, FLAG_PAGE, FLAG_EOS, FLAG_CONTINUE, FLAG_MULTIFD_FLUSH = 0x2, 0x4, 0x8, 0x10, 0x20, 0x200


def be32(b, at):
    return struct.unpack_from('>I', b, at)[0]


def be64(b, at):
    return struct.unpack_from('>Q', b, at)[0]


def ram_body(b, at, flags_seen, blocks):
    """Walks one ram section body from `at` to its EOS; returns the offset after it."""
    while True:
        word = be64(b, at)
        at += 8
        flags = word & 0xfff
        flags_seen[hex(flags)] = flags_seen.get(hex(flags), 0) + 1
        kind = flags & ~FLAG_CONTINUE
        if kind == FLAG_EOS:
            return at
        if kind == FLAG_MEM_SIZE:
            total = word & ~0xfff
            while total > 0:
                n = b[at]
                name = b[at + 1:at + 1 + n].decode('latin1')
                length = be64(b, at + 1 + n)
                at += 1 + n + 8
                blocks.append((name, length))
                total -= length
            continue
        if kind == FLAG_MULTIFD_FLUSH:
            continue
        if not flags & FLAG_CONTINUE:
            at += 1 + b[at]
        if kind == FLAG_ZERO:
            at += 1
        elif kind == FLAG_PAGE:
            at += PAGE
        else:
            raise ValueError(f'ram flags {hex(flags)} at {hex(at - 8)}')


def other_body(b, at, section_id):
    footer = bytes([0x7e]) + struct.pack('>I', section_id)
    while True:
        i = b.find(footer, at)
        if i < 0:
            raise ValueError(f'no footer for section {section_id}')
        if i + 5 >= len(b) or b[i + 5] in (0, 1, 2, 3, 4, 8):
            return i
        at = i + 1


def main(path):
    b = open(path, 'rb').read()
    out = []
    magic, version = be32(b, 0), be32(b, 4)
    out.append(f'0x{0:08x} magic=0x{magic:08x} version={version}')
    at = 8
    if b[at] == 7:
        n = be32(b, at + 1)
        out.append(f"0x{at:08x} CONFIGURATION name='{b[at + 5:at + 5 + n].decode('latin1')}' (be32 len {n})")
        at += 5 + n
    names = {}
    flags_seen = {}
    blocks = []
    while True:
        t = b[at]
        if t == 0:
            out.append(f'0x{at:08x} EOF')
            at += 1
            break
        if t == 8:
            cmd, n = struct.unpack_from('>HH', b, at + 1)
            out.append(f'0x{at:08x} COMMAND cmd={cmd} ({COMMAND_NAMES.get(cmd, "?")}) len={n}')
            at += 5 + n
            continue
        kind = SECTION_NAMES[t]
        sid = be32(b, at + 1)
        if t in (1, 4):
            n = b[at + 5]
            idstr = b[at + 6:at + 6 + n].decode('latin1')
            instance, ver = be32(b, at + 6 + n), be32(b, at + 10 + n)
            names[sid] = idstr
            body = at + 14 + n
            end = ram_body(b, body, flags_seen, blocks) if idstr == 'ram' else other_body(b, body, sid)
            out.append(f"0x{at:08x} {kind:<5} id={sid:<3} idstr='{idstr}' instance_id={instance} version_id={ver} body={end - body}")
        else:
            body = at + 5
            end = ram_body(b, body, flags_seen, blocks) if names[sid] == 'ram' else other_body(b, body, sid)
            out.append(f'0x{at:08x} {kind:<5} id={sid:<3} ({names[sid]}) body={end - body}')
        out.append(f'0x{end:08x}   FOOTER id={sid}')
        at = end + 5
    if at < len(b) and b[at] == 6:
        n = be32(b, at + 1)
        out.append(f'0x{at:08x} VMDESCRIPTION be32 len={n}, JSON ends at 0x{at + 5 + n:x}; file size 0x{len(b):x}')
    if any(length > 0 for _, length in blocks):
        out.append('ram blocks (MEM_SIZE record): ' + ', '.join(f'{name}=0x{length:x}' for name, length in blocks))
    out.append(f'ram record flag combinations seen: {dict(sorted(flags_seen.items(), key=lambda kv: int(kv[0], 16)))}')
    print('\n'.join(out))


if __name__ == '__main__':
    main(sys.argv[1])
