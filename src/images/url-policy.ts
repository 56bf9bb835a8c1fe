/**
 * Which hosts image URLs may reach (SSRF policy), checked on the resolved address of every connection,
 * redirects included. Checking inside DNS lookup (not before it) means the address we vet is the address we
 * connect to, so DNS rebinding cannot slip past.
 *
 * Order: allow rules (host names or CIDRs) win; then deny rules; then the mode's built-in ranges.
 * - `default`: denies unspecified, link-local (169.254.0.0/16 with cloud metadata, fe80::/10), multicast and
 *   broadcast. Private and loopback stay allowed, because Antenna's docker-compose hosts (`minio`, `django`)
 *   resolve to private addresses.
 * - `strict`: also denies loopback, private (RFC 1918), unique-local and carrier-grade NAT ranges.
 */
import * as dns from 'dns';
import * as net from 'net';
import * as ipaddr from 'ipaddr.js';

export type UrlPolicyMode = 'default' | 'strict';

export interface UrlPolicyOptions {
  mode: UrlPolicyMode;
  /** Host names (`minio`, `*.example.org`), IPs or CIDRs that are always allowed. */
  allow: string[];
  /** Host names, IPs or CIDRs that are always denied (unless allowed). */
  deny: string[];
}

/** Raised when the policy refuses a host or address; never retried. */
export class UrlDeniedError extends Error {
  readonly code = 'EURLDENIED';
}

const DEFAULT_DENIED_RANGES = new Set(['unspecified', 'linkLocal', 'multicast', 'broadcast']);
const STRICT_DENIED_RANGES = new Set([
  ...DEFAULT_DENIED_RANGES,
  'loopback',
  'private',
  'uniqueLocal',
  'carrierGradeNat',
  'reserved',
]);

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

interface Rules {
  hosts: string[];
  cidrs: Cidr[];
}

function parseRules(entries: string[]): Rules {
  const rules: Rules = { hosts: [], cidrs: [] };
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry.includes('/')) {
      rules.cidrs.push(ipaddr.parseCIDR(entry));
    } else if (ipaddr.isValid(entry)) {
      const addr = ipaddr.process(entry);
      rules.cidrs.push([addr, addr.kind() === 'ipv4' ? 32 : 128]);
    } else {
      rules.hosts.push(entry);
    }
  }
  return rules;
}

const hostMatches = (patterns: string[], hostname: string): boolean =>
  patterns.some((p) => (p.startsWith('*.') ? hostname.endsWith(p.slice(1)) : hostname === p));

function inCidrs(cidrs: Cidr[], addr: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  return cidrs.some(([range, bits]) => range.kind() === addr.kind() && addr.match([range, bits] as never));
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

export class UrlPolicy {
  private readonly allow: Rules;
  private readonly deny: Rules;
  private readonly deniedRanges: Set<string>;

  constructor(readonly options: UrlPolicyOptions) {
    this.allow = parseRules(options.allow);
    this.deny = parseRules(options.deny);
    this.deniedRanges = options.mode === 'strict' ? STRICT_DENIED_RANGES : DEFAULT_DENIED_RANGES;
  }

  /** True when the host name alone is allowed, so its addresses need no check. */
  private allowedByName(hostname: string): boolean {
    return hostMatches(this.allow.hosts, hostname.toLowerCase());
  }

  /** Checks a URL's host before connecting: name rules, and address rules for IP literals. */
  checkHost(hostname: string): void {
    const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
    if (this.allowedByName(host)) return;
    if (hostMatches(this.deny.hosts, host))
      throw new UrlDeniedError(`host ${host} is denied by IMAGE_URL_DENY`);
    // Node's connect skips DNS lookup for IP literals, so they are checked here.
    if (net.isIP(host)) this.checkAddress(host, host);
  }

  /** Checks one resolved address of `hostname`. */
  checkAddress(address: string, hostname: string): void {
    if (this.allowedByName(hostname)) return;
    const addr = ipaddr.process(address); // IPv4-mapped IPv6 becomes IPv4
    if (inCidrs(this.allow.cidrs, addr)) return;
    if (inCidrs(this.deny.cidrs, addr)) {
      throw new UrlDeniedError(`${hostname} resolves to ${address}, which IMAGE_URL_DENY denies`);
    }
    const range = addr.range();
    if (this.deniedRanges.has(range)) {
      throw new UrlDeniedError(
        `${hostname} resolves to ${address} (${range}), which the ${this.options.mode} URL policy denies`,
      );
    }
  }

  /** A `dns.lookup` replacement for connection options: resolves, then vets every address. */
  readonly lookup = (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      try {
        for (const a of addresses) this.checkAddress(a.address, hostname);
      } catch (denied) {
        return callback(denied as NodeJS.ErrnoException, []);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      return callback(null, first.address, first.family);
    });
  };
}
