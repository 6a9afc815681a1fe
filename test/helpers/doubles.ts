/** The next double above (or below) x, for x finite and not zero: one ulp away. */
export function nextDouble(x: number, up: boolean): number {
  const b = Buffer.alloc(8)
  b.writeDoubleLE(x)
  b.writeBigInt64LE(b.readBigInt64LE() + ((x > 0) === up ? 1n : -1n))
  return b.readDoubleLE()
}
