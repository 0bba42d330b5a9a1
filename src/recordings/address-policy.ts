import { type LookupAddress, lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { splitCommaList } from '../config-file';

/** Error code (and message prefix) of a recording URL the download refuses to reach. */
export const URL_NOT_ALLOWED = 'recording_url_not_allowed';

/** A URL or an address the download refuses; `reason` is safe to show (no query string, no credentials). */
export class AddressNotAllowedError extends Error {
  readonly code = URL_NOT_ALLOWED;
  constructor(readonly reason: string) {
    super(`${URL_NOT_ALLOWED}: ${reason}`);
    this.name = 'AddressNotAllowedError';
  }
}

/** An entry of RECORDING_ALLOWED_HOSTS that is neither a host name, an IP address nor a CIDR. */
const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/;

/**
 * Which addresses a recording download may reach. Public unicast addresses always; loopback, private,
 * link-local (cloud metadata), unique-local, unspecified, carrier-grade NAT and every other special range
 * only when RECORDING_ALLOWED_HOSTS names the host, the address or a CIDR holding it.
 */
export class AddressPolicy {
  private readonly names = new Set<string>();
  private readonly ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];

  /**
   * @param entries host names, IP addresses or CIDRs (RECORDING_ALLOWED_HOSTS).
   * @throws Error naming the first entry that is none of them.
   */
  constructor(entries: readonly string[] = []) {
    for (const raw of entries) {
      const entry = raw
        .trim()
        .toLowerCase()
        .replace(/^\[|\]$/g, '');
      if (!entry) continue;
      if (entry.includes('/')) {
        if (!ipaddr.isValidCIDR(entry)) throw new Error(`"${raw}" is not a valid CIDR`);
        this.ranges.push(ipaddr.parseCIDR(entry));
      } else if (ipaddr.isValid(entry)) {
        const addr = ipaddr.process(entry);
        this.ranges.push([addr, addr.kind() === 'ipv4' ? 32 : 128]);
      } else if (HOST_NAME.test(entry)) {
        this.names.add(entry.replace(/\.$/, ''));
      } else {
        throw new Error(`"${raw}" is not a host name, an IP address or a CIDR`);
      }
    }
  }

  /** True when the host name itself is listed (its addresses are then not checked). */
  hostListed(hostname: string): boolean {
    return this.names.has(hostname.toLowerCase().replace(/\.$/, ''));
  }

  /**
   * Why `address` may not be reached (its range, e.g. `loopback`), or null when it may. IPv6 forms that
   * carry an IPv4 address are judged by it: IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::/96`) and
   * 6to4 (`2002::/16`) are refused when the IPv4 inside is; IPv4-compatible (`::a.b.c.d`, deprecated),
   * local-use NAT64 (`64:ff9b:1::/48`) and Teredo (`2001::/32`) always are (unless listed).
   */
  refusal(address: string): string | null {
    if (!ipaddr.isValid(address)) return 'not an IP address';
    const addr = ipaddr.process(address);
    if (this.listed(addr)) return null;
    if (addr.kind() === 'ipv4') {
      const range = addr.range();
      return range === 'unicast' ? null : `${range} address`;
    }
    const v6 = addr as ipaddr.IPv6;
    const range = v6.range();
    const embedded = embeddedIPv4(v6, range);
    if (embedded) {
      const why = this.refusal(embedded.toString());
      return why ? `${range} address embedding a ${why}` : null;
    }
    if (range === 'unicast') return v6.match(IPV4_COMPATIBLE, 96) ? 'ipv4Compatible address' : null;
    return `${range} address`;
  }

  private listed(addr: ipaddr.IPv4 | ipaddr.IPv6): boolean {
    return this.ranges.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net as never, bits));
  }

  /**
   * Checks what can be told without DNS: http(s) only, no credentials, and a literal IP host (any form
   * the URL parser accepts, e.g. `2130706433` or `[::ffff:7f00:1]`) must be allowed.
   * @returns the parsed URL. @throws AddressNotAllowedError
   */
  checkUrl(url: string | URL): URL {
    let u: URL;
    try {
      u = typeof url === 'string' ? new URL(url) : url;
    } catch {
      throw new AddressNotAllowedError('not a valid URL');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new AddressNotAllowedError(`scheme ${u.protocol} is not http or https`);
    }
    if (u.username || u.password) throw new AddressNotAllowedError('credentials in the URL');
    const host = u.hostname.replace(/^\[|\]$/g, '');
    if (ipaddr.isValid(host) && !this.hostListed(host)) {
      const why = this.refusal(host);
      if (why) throw new AddressNotAllowedError(`${host} is a ${why}`);
    }
    return u;
  }

  /**
   * A `lookup` for http(s).request that resolves with `resolve` (default dns.lookup) and refuses the
   * connection when any resolved address is not allowed, so the socket connects only to checked
   * addresses (no DNS-rebinding gap between the check and the connect).
   */
  lookup(resolve: LookupFunction = dnsLookup as unknown as LookupFunction): LookupFunction {
    return (hostname, options, callback) => {
      resolve(hostname, { ...options, all: true }, (err, result) => {
        if (err) {
          callback(err, '', 0);
          return;
        }
        const list = (Array.isArray(result) ? result : [{ address: result, family: 4 }]) as LookupAddress[];
        if (!this.hostListed(hostname)) {
          for (const a of list) {
            const why = this.refusal(a.address);
            if (why) {
              const e = new AddressNotAllowedError(`${hostname} resolves to a ${why}`);
              callback(e as unknown as NodeJS.ErrnoException, '', 0);
              return;
            }
          }
        }
        if (list.length === 0) {
          callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
          return;
        }
        if ((options as { all?: boolean }).all) {
          (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
        } else {
          callback(null, list[0].address, list[0].family);
        }
      });
    };
  }
}

/** `::/96`: IPv4-compatible IPv6 (RFC 4291, deprecated); `::7f00:1` is `::127.0.0.1`. */
const IPV4_COMPATIBLE = new ipaddr.IPv6([0, 0, 0, 0, 0, 0, 0, 0]);
/** The NAT64 well-known prefix (RFC 6052), whose last 32 bits are the IPv4 address reached. */
const NAT64 = new ipaddr.IPv6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0]);

/** The IPv4 address a NAT64 (`64:ff9b::/96`) or 6to4 (`2002:AABB:CCDD::/48`) address reaches, else null. */
function embeddedIPv4(addr: ipaddr.IPv6, range: string): ipaddr.IPv4 | null {
  const p = addr.parts;
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  if (range === 'rfc6052' && addr.match(NAT64, 96)) return v4(p[6], p[7]);
  if (range === '6to4') return v4(p[1], p[2]);
  return null;
}

/**
 * Parses RECORDING_ALLOWED_HOSTS (comma list). @throws Error naming the bad entry.
 */
export function parseAllowedHosts(value: string): string[] {
  const entries = splitCommaList(value);
  new AddressPolicy(entries);
  return entries;
}
