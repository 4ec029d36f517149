/**
 * TLS failures in clear words, one line each (issue 17 item 9): which side refused what,
 * without OpenSSL's multi-line error text (its file names, line numbers and queue dumps).
 */

/** Certificate verification codes (OpenSSL's, as Node reports them) in words. */
const CERT_WORDS: Readonly<Record<string, string>> = {
  INVALID_PURPOSE: 'its certificate is not for a TLS server (its extended key usage lacks serverAuth)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its certificate is not signed by the CA this side trusts (--tls-ca)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its certificate is not signed by the CA this side trusts (--tls-ca)',
  SELF_SIGNED_CERT_IN_CHAIN: 'its certificate chain ends in a CA this side does not trust (--tls-ca)',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its certificate is self-signed, not signed by the CA this side trusts (--tls-ca)',
  CERT_HAS_EXPIRED: 'its certificate has expired',
  CERT_NOT_YET_VALID: 'its certificate is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its certificate does not carry the expected name (--tls-hostname)',
};

/** Whether an error code says the TLS layer failed (not the socket: ECONNRESET, ECONNREFUSED…). */
export function isTlsErrorCode(code: unknown): boolean {
  return typeof code === 'string' && !/^E[A-Z0-9]+$/.test(code);
}

/** The first line of an OpenSSL message, without its `error:0A00010B:SSL routines:…` prefix and source location. */
export function oneLine(message: string): string {
  const first = message.split('\n')[0]?.trim() ?? '';
  const ssl = /error:[0-9A-F]+:SSL routines:[^:]*:([^:]+)/.exec(first);
  return ssl?.[1] ?? first;
}

/** Why the source's handshake with the destination failed, in words. */
export function describeSourceHandshakeFailure(cause: Error): string {
  const code = (cause as { code?: unknown }).code;
  const words = typeof code === 'string' ? CERT_WORDS[code] : undefined;
  if (words !== undefined) return `handshake failed: the destination was refused: ${words} (${oneLine(cause.message)})`;
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return 'the destination does not speak TLS (a destination without --tls-*?)';
  }
  return `handshake failed: ${oneLine(cause.message)}`;
}

/** OpenSSL reasons a TLS server gives for a peer whose first bytes are not a TLS handshake. */
const NOT_TLS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_HTTP_REQUEST', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_UNKNOWN_PROTOCOL']);

/** Why the destination refused a peer during the TLS handshake, in one line. */
export function describePeerHandshakeFailure(err: Error): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && NOT_TLS.has(code)) {
    return 'the source did not start a TLS handshake: it connected without TLS (a source without --tls-*?)';
  }
  if (code === 'ECONNRESET') return 'the source hung up during the TLS handshake (did it refuse this side\'s certificate?)';
  const words = oneLine(err.message);
  return typeof code === 'string' ? `TLS handshake failed: ${words} (${code})` : `TLS handshake failed: ${words}`;
}
