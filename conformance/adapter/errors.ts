/**
 * Transport failures: the implementation could not be reached or broke the
 * protocol. These reject the Adapter's promises; they are never confused with
 * a ProtocolError (a well-formed {ok:false} answer) or an ioctl failure (a
 * result with errno).
 */
export type AdapterFailureKind =
  | 'not-found' // no implementation by that name / module / export
  | 'spawn' // the process could not be started
  | 'handshake' // the hello was refused or answered wrongly
  | 'exited' // the process ended while requests were outstanding (or before the handshake)
  | 'timeout' // no response within the per-request timeout
  | 'bad-message' // a line that is not JSON, not schema-valid, or answers no pending request
  | 'closed'; // the adapter was closed by its user

export class AdapterError extends Error {
  constructor(
    readonly kind: AdapterFailureKind,
    message: string,
    /** Dotted path of the offending field of a bad message, when known. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'AdapterError';
  }
}
