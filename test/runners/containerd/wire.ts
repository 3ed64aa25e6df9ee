// A protobuf wire reader just big enough to check field numbers independently of proto-loader: the
// top-level fields of one message: varints as numbers, length-delimited ones as bytes (a nested
// message is read again with wireFields).
export type WireValue = number | Uint8Array

export const wireFields = (bytes: Uint8Array): Map<number, WireValue> => {
  const fields = new Map<number, WireValue>()
  let at = 0
  const varint = (): number => {
    let value = 0
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[at++]
      if (byte === undefined) throw new Error("truncated varint")
      value += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) return value
    }
  }
  while (at < bytes.length) {
    const key = varint()
    const field = Math.floor(key / 8)
    switch (key & 7) {
      case 0:
        fields.set(field, varint())
        break
      case 2: {
        const length = varint()
        fields.set(field, bytes.subarray(at, at + length))
        at += length
        break
      }
      default:
        throw new Error(`field ${field}: wire type ${key & 7} is not read here`)
    }
  }
  return fields
}

export const bytesOf = (value: WireValue | undefined): Uint8Array => {
  if (!(value instanceof Uint8Array)) throw new Error(`expected a length-delimited field, got ${String(value)}`)
  return value
}

export const text = (value: WireValue | undefined): string => Buffer.from(bytesOf(value)).toString("utf8")
