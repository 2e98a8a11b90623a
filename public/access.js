// Access control for the page: room secrets, the owner token, and what to tell
// the user when a join is refused. Credentials travel only in the offered
// subprotocol `rooms.auth.BASE64URL(credential)` (browsers cannot set headers;
// rooms-client.js offers it), never in a URL the server sees; a share link keeps
// the secret after the `#`.

const OWNER_STORAGE = 'rooms.owner.';

/** A fresh secret: 18 random bytes, 24 base64url characters. */
export function generateSecret() {
  const bytes = new Uint8Array(18);
  crypto.getRandomValues(bytes);
  return base64url(bytes);
}

function base64url(bytes) {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The secret in a share link's fragment (#room=K&secret=S), or ''. */
export function secretFromLocation() {
  return new URLSearchParams(location.hash.replace(/^#/, '')).get('secret') ?? '';
}

export function shareLinkWithSecret(room, secret) {
  const base = `${location.origin}${location.pathname}`;
  return `${base}#room=${encodeURIComponent(room)}&secret=${encodeURIComponent(secret)}`;
}

// The owner token is kept per room in sessionStorage: a reload of this tab stays the owner, while
// other tabs (or other people using this browser later) do not silently become owners.
export function savedOwnerToken(room) {
  try {
    return sessionStorage.getItem(OWNER_STORAGE + room) ?? '';
  } catch {
    return '';
  }
}

export function saveOwnerToken(room, token) {
  try {
    sessionStorage.setItem(OWNER_STORAGE + room, token);
  } catch {
    /* private mode: owner for this tab only */
  }
}

export function forgetOwnerToken(room) {
  try {
    sessionStorage.removeItem(OWNER_STORAGE + room);
  } catch {
    /* nothing stored */
  }
}

/**
 * A browser never sees the HTTP status of a refused WebSocket upgrade (by design:
 * pages must not probe servers through it); it sees only a close with 1006. The
 * client library (rooms-client.js) asks /healthz whether the server is up: if it
 * is not, retrying is right; if it is, the join was refused (its `refused` event),
 * and the page explains the refusals this join could have met, most likely first.
 */
export function explainRefusal({ sentSecret, usedOwnerToken, failures }) {
  if (failures >= 3 && sentSecret) {
    return 'The server keeps refusing this join. After more than 10 wrong secrets from your network it refuses every try for up to 10 minutes; wait, then check the secret with whoever shared the room.';
  }
  if (usedOwnerToken) {
    return 'The server refused your owner key for this room: the room may have been closed. Enter the room secret if you have one, or join without one.';
  }
  if (sentSecret) {
    return 'The server refused the join: the secret is probably wrong (check it with whoever shared the room), or the owner has locked the room. Too many wrong secrets block your network for up to 10 minutes.';
  }
  return 'The server refused the join: this room is probably protected by a secret (enter it below), or its owner has locked it against new members.';
}

/** The close codes an owner's action sends, in plain words. */
export const OWNER_CLOSES = {
  4001: "The room's owner removed you from the room.",
  4002: 'The owner closed this room. It no longer exists.',
};

/** A copy of a frame for the protocol panel with the owner token and secrets hidden. */
export function redactForPanel(text) {
  try {
    const value = JSON.parse(text);
    if (value && typeof value === 'object') {
      if (typeof value.ownerToken === 'string') value.ownerToken = '(hidden: kept in this browser)';
      if (typeof value.secret === 'string') value.secret = '(hidden)';
      return JSON.stringify(value);
    }
  } catch {
    /* not JSON: shown as it is */
  }
  return text;
}
