// A protocol violation as a value: the close code it maps to travels with it,
// so the place that detects a problem is the place that decides the answer.

export type ProtocolErrorCode =
  | 'WS_ERR_UNMASKED_FRAME'
  | 'WS_ERR_RESERVED_BITS'
  | 'WS_ERR_RESERVED_OPCODE'
  | 'WS_ERR_CONTROL_FRAME_TOO_LONG'
  | 'WS_ERR_FRAGMENTED_CONTROL_FRAME'
  | 'WS_ERR_UNEXPECTED_CONTINUATION'
  | 'WS_ERR_EXPECTED_CONTINUATION'
  | 'WS_ERR_LENGTH_MSB_SET'
  | 'WS_ERR_MESSAGE_TOO_BIG'
  | 'WS_ERR_TOO_MANY_FRAGMENTS'
  | 'WS_ERR_INVALID_UTF8'
  | 'WS_ERR_CLOSE_BODY_LENGTH'
  | 'WS_ERR_INVALID_CLOSE_CODE'
  | 'WS_ERR_INFLATE'
  | 'WS_ERR_INFLATED_TOO_BIG';

export class ProtocolError {
  constructor(
    /** The close code to send: 1002, 1007 or 1009. */
    readonly closeCode: number,
    /** A short reason for the close frame and the log; never echoes peer data. */
    readonly reason: string,
    /** A stable machine-readable name, for tests and logs. */
    readonly code: ProtocolErrorCode,
  ) {}
}
