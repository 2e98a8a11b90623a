// XOR of a block with a repeated 32-bit word, 16 bytes per instruction, in a
// tiny WebAssembly module assembled here byte by byte (no build step, no
// dependency). JavaScript XORs 4 bytes at a time, about 1 GB/s here; this runs
// near memory speed, so unmasking a large payload costs two copies, not a loop.

/** Bytes the module's memory holds for one block; callers go through longer runs block by block. */
export const SIMD_BLOCK = 64 * 1024;

export interface SimdXor {
  /** The module's memory: copy a block in at 0, call `xor`, copy it back. */
  memory: Uint8Array;
  /** XORs memory[0, length) with `word` repeated (little endian); `length` a multiple of 16, at most SIMD_BLOCK. */
  xor(length: number, word: number): void;
}

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
};
const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];

/**
 * (func (export "x") (param $len i32) (param $word i32) (local $i i32) (local $v v128)
 *   $v = i32x4.splat($word)
 *   block loop
 *     br_if 1 ($i + 16 > $len)
 *     v128.store($i, v128.xor(v128.load($i), $v))
 *     $i += 16; br 0
 *   end end)
 */
function moduleBytes(): Uint8Array {
  const pages = SIMD_BLOCK / 65536;
  const body = [
    0x02, 0x01, 0x7f, 0x01, 0x7b, // locals: one i32 ($i, index 2), one v128 ($v, index 3)
    0x20, 0x01, 0xfd, 0x11, 0x21, 0x03, // $v = i32x4.splat($word)
    0x02, 0x40, 0x03, 0x40, // block, loop
    0x20, 0x02, 0x41, 0x10, 0x6a, 0x20, 0x00, 0x4b, 0x0d, 0x01, // br_if 1 ($i + 16 >u $len)
    0x20, 0x02, 0x20, 0x02, 0xfd, 0x00, 0x04, 0x00, // address, v128.load align=16
    0x20, 0x03, 0xfd, 0x51, // v128.xor with $v
    0xfd, 0x0b, 0x04, 0x00, // v128.store align=16
    0x20, 0x02, 0x41, 0x10, 0x6a, 0x21, 0x02, // $i += 16
    0x0c, 0x00, 0x0b, 0x0b, 0x0b, // br 0, end loop, end block, end func
  ];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, [0x01, 0x60, 0x02, 0x7f, 0x7f, 0x00]), // type 0: (i32, i32) -> ()
    ...section(3, [0x01, 0x00]), // one function of type 0
    ...section(5, [0x01, 0x00, ...uleb(pages)]), // one memory, fixed at one block
    ...section(7, [0x02, 0x01, 0x6d, 0x02, 0x00, 0x01, 0x78, 0x00, 0x00]), // exports "m" (memory 0), "x" (func 0)
    ...section(10, [0x01, ...uleb(body.length), ...body]),
  ]);
}

/** The little of the WebAssembly API used here (the project's type libraries do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { m: { buffer: ArrayBuffer }; x: (length: number, word: number) => void } };
}

function load(): SimdXor | null {
  // The word is built in the machine's byte order and the module reads little endian.
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) return null;
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined) return null;
  try {
    const { exports } = new wasm.Instance(new wasm.Module(moduleBytes()));
    // The memory never grows, so this view of it stays valid.
    return { memory: new Uint8Array(exports.m.buffer, 0, SIMD_BLOCK), xor: exports.x };
  } catch {
    return null; // no WebAssembly SIMD (or --jitless): the caller keeps its JavaScript loop
  }
}

/** The module, or null where WebAssembly SIMD is not available. */
export const simdXor: SimdXor | null = load();
