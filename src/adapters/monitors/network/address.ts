// IP addresses and CIDR blocks as bytes, so that allowlist checks compare numbers, never strings.
// Pure; IPv4-mapped IPv6 (::ffff:a.b.c.d) is unwrapped to IPv4 so one address has one form.
export interface IpAddress {
  readonly family: 4 | 6
  readonly bytes: Uint8Array
}

export interface Cidr {
  readonly address: IpAddress
  readonly prefix: number
}

const parseV4 = (text: string): Uint8Array | null => {
  const parts = text.split(".")
  if (parts.length !== 4) return null
  const bytes = new Uint8Array(4)
  for (const [i, part] of parts.entries()) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return null
    const n = Number(part)
    if (n > 255) return null
    bytes[i] = n
  }
  return bytes
}

const parseV6 = (text: string): Uint8Array | null => {
  if (!/^[0-9a-f:.]+$/i.test(text) || text.length > 45) return null
  let head = text
  let tail4: Uint8Array | null = null
  const lastColon = text.lastIndexOf(":")
  if (text.includes(".")) {
    tail4 = parseV4(text.slice(lastColon + 1))
    if (tail4 === null) return null
    head = `${text.slice(0, lastColon + 1)}0:0`
  }
  const halves = head.split("::")
  if (halves.length > 2) return null
  const groups = (part: string): Array<string> | null => (part === "" ? [] : part.split(":"))
  const left = groups(halves[0] ?? "")
  const right = halves.length === 2 ? groups(halves[1] ?? "") : []
  if (left === null || right === null) return null
  const missing = 8 - left.length - right.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null
  const all = [...left, ...Array<string>(missing).fill("0"), ...right]
  const bytes = new Uint8Array(16)
  for (const [i, group] of all.entries()) {
    if (!/^[0-9a-f]{1,4}$/i.test(group)) return null
    const n = parseInt(group, 16)
    bytes[i * 2] = n >> 8
    bytes[i * 2 + 1] = n & 0xff
  }
  if (tail4 !== null) bytes.set(tail4, 12)
  return bytes
}

const isMappedV4 = (bytes: Uint8Array): boolean =>
  bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff

/** An IPv4 or IPv6 address (brackets allowed around IPv6), or null. */
export const parseIp = (input: string): IpAddress | null => {
  const text = input.startsWith("[") && input.endsWith("]") ? input.slice(1, -1) : input
  const v4 = parseV4(text)
  if (v4 !== null) return { family: 4, bytes: v4 }
  const v6 = text.includes(":") ? parseV6(text) : null
  if (v6 === null) return null
  return isMappedV4(v6) ? { family: 4, bytes: v6.slice(12) } : { family: 6, bytes: v6 }
}

/** Dotted quad, or RFC 5952 IPv6 (lower case, longest zero run compressed). */
export const formatIp = (ip: IpAddress): string => {
  if (ip.family === 4) return Array.from(ip.bytes).join(".")
  const groups = Array.from({ length: 8 }, (_, i) => ((ip.bytes[i * 2] ?? 0) << 8) | (ip.bytes[i * 2 + 1] ?? 0))
  let best = { start: -1, length: 0 }
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > best.length && j - i >= 2) best = { start: i, length: j - i }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (best.start < 0) return hex.join(":")
  return `${hex.slice(0, best.start).join(":")}::${hex.slice(best.start + best.length).join(":")}`
}

/** `a.b.c.d/n`, `x::/n`, or a bare address (a /32 or /128). */
export const parseCidr = (text: string): Cidr | null => {
  const slash = text.indexOf("/")
  const address = parseIp(slash < 0 ? text : text.slice(0, slash))
  if (address === null) return null
  const max = address.family === 4 ? 32 : 128
  if (slash < 0) return { address, prefix: max }
  const prefixText = text.slice(slash + 1)
  if (!/^\d{1,3}$/.test(prefixText)) return null
  const written = Number(prefixText)
  // an IPv4-mapped block (::ffff:10.0.0.0/104) was unwrapped to IPv4: shift its prefix along
  const mapped = address.family === 4 && text.includes(":")
  const prefix = mapped ? written - 96 : written
  if (prefix < 0 || prefix > max || written > (mapped ? 128 : max)) return null
  return { address, prefix }
}

export const inCidr = (cidr: Cidr, ip: IpAddress): boolean => {
  if (cidr.address.family !== ip.family) return false
  let bits = cidr.prefix
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff
    if (((cidr.address.bytes[i] ?? 0) & mask) !== ((ip.bytes[i] ?? 0) & mask)) return false
  }
  return true
}

export const sameIp = (a: IpAddress, b: IpAddress): boolean =>
  a.family === b.family && a.bytes.every((byte, i) => byte === b.bytes[i])

const block = (text: string): Cidr => {
  const cidr = parseCidr(text)
  if (cidr === null) throw new Error(`bad built-in block ${text}`)
  return cidr
}

/** Addresses a name must never lead to unless the allowlist names them itself: they reach the host or its cloud. */
const HOST_LOCAL: ReadonlyArray<{ readonly cidr: Cidr; readonly what: string }> = [
  { cidr: block("127.0.0.0/8"), what: "loopback" },
  { cidr: block("::1/128"), what: "loopback" },
  { cidr: block("0.0.0.0/8"), what: "unspecified" },
  { cidr: block("::/128"), what: "unspecified" },
  { cidr: block("169.254.169.254/32"), what: "cloud metadata" },
  { cidr: block("fd00:ec2::254/128"), what: "cloud metadata" },
  { cidr: block("169.254.0.0/16"), what: "link-local" },
  { cidr: block("fe80::/10"), what: "link-local" }
]

/** Why an address is host-local ("loopback", "link-local", "cloud metadata", "this host"), or null. */
export const hostLocalKind = (ip: IpAddress, hostAddresses: ReadonlyArray<IpAddress>): string | null => {
  for (const { cidr, what } of HOST_LOCAL) if (inCidr(cidr, ip)) return what
  return hostAddresses.some((own) => sameIp(own, ip)) ? "this host" : null
}
