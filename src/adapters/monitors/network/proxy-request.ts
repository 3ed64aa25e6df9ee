// The head of a request to the egress proxy, pure: `CONNECT host:port` or a plain-HTTP request with an
// absolute URI. Anything else (origin-form, https:// URIs, garbage) is a reason string, never a throw.
import { Either } from "effect"
import { formatIp, parseIp } from "./address.js"
import { normalizeName } from "./egress-policy.js"

export const MAX_HEAD_BYTES = 16 * 1024

export interface Target {
  /** A host name (normalised) or an address (formatted). */
  readonly host: string
  readonly isAddress: boolean
  readonly port: number
}

export type ProxyRequest =
  | ({ readonly kind: "connect" } & Target)
  | ({
      readonly kind: "http"
      readonly method: string
      /** origin-form: path and query. */
      readonly path: string
      readonly headers: ReadonlyArray<readonly [string, string]>
    } & Target)

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** `host`, `host:port`, `[v6]` or `[v6]:port`. */
export const parseAuthority = (authority: string, defaultPort: number | null): Either.Either<Target, string> => {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(authority)
  const plain = bracketed === null ? /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(authority) : null
  const match = bracketed ?? plain
  if (match === null) return Either.left(`cannot read host and port from ${JSON.stringify(authority.slice(0, 100))}`)
  const hostText = match[1] ?? ""
  const port = match[2] === undefined ? defaultPort : Number(match[2])
  if (port === null) return Either.left(`${JSON.stringify(authority.slice(0, 100))} lacks a port`)
  if (!Number.isInteger(port) || port < 1 || port > 65535) return Either.left(`port ${match[2]} is out of range`)
  const ip = parseIp(hostText)
  if (bracketed !== null && (ip === null || !hostText.includes(":"))) return Either.left(`${JSON.stringify(hostText)} in brackets is not an IPv6 address`)
  if (ip !== null) return Either.right({ host: formatIp(ip), isAddress: true, port })
  const name = normalizeName(hostText)
  return name === null ? Either.left(`${JSON.stringify(hostText.slice(0, 100))} is not a host name`) : Either.right({ host: name, isAddress: false, port })
}

/** Reads the head (request line and headers, without the final blank line). */
export const parseProxyHead = (head: string): Either.Either<ProxyRequest, string> => {
  const lines = head.split("\r\n")
  const requestLine = lines[0] ?? ""
  const parts = requestLine.split(" ")
  if (parts.length !== 3) return Either.left(`malformed request line ${JSON.stringify(requestLine.slice(0, 100))}`)
  const [method = "", target = "", version = ""] = parts
  if (!TOKEN.test(method)) return Either.left(`malformed method ${JSON.stringify(method.slice(0, 20))}`)
  if (!/^HTTP\/1\.[01]$/.test(version)) return Either.left(`unsupported protocol ${JSON.stringify(version.slice(0, 20))}`)
  const headers: Array<readonly [string, string]> = []
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":")
    const name = colon > 0 ? line.slice(0, colon) : ""
    if (!TOKEN.test(name)) return Either.left(`malformed header line ${JSON.stringify(line.slice(0, 100))}`)
    headers.push([name, line.slice(colon + 1).trim()])
  }
  if (method === "CONNECT") return Either.map(parseAuthority(target, null), (t) => ({ kind: "connect" as const, ...t }))
  const uri = /^http:\/\/([^/?#]+)([^#]*)/i.exec(target)
  if (uri === null) {
    return Either.left(
      target.startsWith("/")
        ? "not a proxy request (origin-form target); send absolute http:// URIs or CONNECT"
        : `only http:// URIs and CONNECT are proxied, got ${JSON.stringify(target.slice(0, 100))}`
    )
  }
  const authority = uri[1] ?? ""
  if (authority.includes("@")) return Either.left("user information in the URI is not accepted")
  const rest = uri[2] ?? ""
  return Either.map(parseAuthority(authority, 80), (t) => ({
    kind: "http" as const,
    method,
    path: rest === "" ? "/" : rest.startsWith("/") ? rest : `/${rest}`,
    headers,
    ...t
  }))
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate", "te", "trailer", "upgrade"])

/** The head sent upstream: origin-form, hop-by-hop headers dropped, one request per connection. */
export const forwardHead = (request: Extract<ProxyRequest, { kind: "http" }>): string => {
  const kept = request.headers.filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase()))
  const hasHost = kept.some(([name]) => name.toLowerCase() === "host")
  const hostHeader = request.host.includes(":") ? `[${request.host}]` : request.host
  const host = hasHost ? [] : [`Host: ${request.port === 80 ? hostHeader : `${hostHeader}:${request.port}`}`]
  return [`${request.method} ${request.path} HTTP/1.1`, ...host, ...kept.map(([name, value]) => `${name}: ${value}`), "Connection: close", "", ""].join("\r\n")
}
