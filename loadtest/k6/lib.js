// Shared helpers for the scrapegate k6 scripts.
//
// Every script reads its target from environment variables (k6 `__ENV`):
//   TARGET_URL   full URL to scrape            (default https://127.0.0.1:9443/metrics)
//   SCRAPE_USER  basic-auth user               (default prometheus)
//   SCRAPE_PASS  basic-auth password           (required unless NO_AUTH=1)
//   CLIENT_CERT / CLIENT_KEY  optional PEM files for a client certificate (mTLS)
//   EXPECT_PROTO optional, e.g. "HTTP/2.0" or "HTTP/1.1": a check fails on any other protocol
//
// TLS verification: k6 has no option to pin a CA for *server* verification (`tlsAuth` only
// supplies client certificates). k6 is a Go program, and Go's crypto/x509 on Linux reads the
// trust store named by the SSL_CERT_FILE environment variable. So the scripts keep
// `insecureSkipTLSVerify: false` and the caller runs k6 with SSL_CERT_FILE=<generated CA PEM>:
// the server certificate is then verified against the throwaway CA and nothing else.
//
// HTTP version: k6 negotiates HTTP/2 by ALPN whenever the server offers it. To force
// HTTP/1.1 run k6 with GODEBUG=http2client=0 (Go's switch for its HTTP/2 client).

import http from 'k6/http';
import encoding from 'k6/encoding';

export const TARGET_URL = __ENV.TARGET_URL || 'https://127.0.0.1:9443/metrics';
export const USER = __ENV.SCRAPE_USER || 'prometheus';
export const PASS = __ENV.SCRAPE_PASS || '';
export const EXPECT_PROTO = __ENV.EXPECT_PROTO || '';

export function num(name, dflt) {
  const v = __ENV[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (Number.isNaN(n)) throw new Error(`${name}=${v} is not a number`);
  return n;
}

export function str(name, dflt) {
  const v = __ENV[name];
  return v === undefined || v === '' ? dflt : v;
}

export function basic(user, pass) {
  return 'Basic ' + encoding.b64encode(`${user}:${pass}`);
}

export const GOOD_AUTH = __ENV.NO_AUTH === '1' ? null : basic(USER, PASS);

// Options shared by every script: real certificate verification, optional client cert.
export function tlsOptions() {
  const o = { insecureSkipTLSVerify: false };
  if (__ENV.CLIENT_CERT && __ENV.CLIENT_KEY) {
    o.tlsAuth = [{ cert: open(__ENV.CLIENT_CERT), key: open(__ENV.CLIENT_KEY) }];
  }
  return o;
}

// One Prometheus-like scrape with good credentials.
export function scrape(tags) {
  const headers = { 'User-Agent': 'Prometheus/2.42.0', Accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1' };
  if (GOOD_AUTH) headers.Authorization = GOOD_AUTH;
  return http.get(TARGET_URL, { headers, tags });
}

export function protoOk(res) {
  return EXPECT_PROTO === '' || res.proto === EXPECT_PROTO;
}
