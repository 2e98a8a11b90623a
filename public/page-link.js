// The join form's side of the page: room keys (made, read from the link, put
// back into it), the share link and its copy button, and the form's checks.
// The key travels in the fragment (#room=), which no server or proxy log sees.

const ROOM_RE = /^[A-Za-z0-9_.~-]{1,128}$/;
const CONTROL_RE = /\p{Cc}/u;

export function generateRoomKey() {
  const bytes = new Uint8Array(16); // 128 bits -> 22 base64url characters
  crypto.getRandomValues(bytes);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function roomFromLocation() {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ''));
  const fromHash = hash.get('room');
  if (fromHash) return fromHash;
  // Old-style links with ?room= still work, but the key is moved out of the query.
  const query = new URLSearchParams(location.search);
  return query.get('room') ?? '';
}

function linkFor(room) {
  const base = `${location.origin}${location.pathname}`;
  return room ? `${base}#room=${encodeURIComponent(room)}` : base;
}

/** The share link and the address bar follow the room field (`ui`: the page's elements: room, shareLink, copyStatus). */
export function updateLink(ui) {
  const room = ui.room.value.trim();
  ui.shareLink.value = linkFor(ROOM_RE.test(room) ? room : '');
  const target = ROOM_RE.test(room) ? `#room=${encodeURIComponent(room)}` : '';
  if (location.hash !== target || location.search) {
    history.replaceState(null, '', `${location.pathname}${target}`);
  }
  ui.copyStatus.textContent = '';
}

/** Copies the share link, or selects it where the page has no clipboard (plain http on a LAN address). */
export async function copyLink(ui) {
  const link = ui.shareLink.value;
  try {
    if (!navigator.clipboard || !window.isSecureContext) throw new Error('no clipboard');
    await navigator.clipboard.writeText(link);
    ui.copyStatus.textContent = 'Link copied.';
  } catch {
    // Plain http on a LAN address has no clipboard API: select the text instead.
    ui.shareLink.focus();
    ui.shareLink.select();
    let copied = false;
    try {
      copied = document.execCommand('copy');
    } catch {
      copied = false;
    }
    ui.copyStatus.textContent = copied ? 'Link copied.' : 'Link selected: press Ctrl+C (or ⌘C) to copy it.';
  }
}

export function validRoom(room) {
  if (!room) return 'Enter a room key, or generate one.';
  if (room.length > 128) return 'The room key is longer than 128 characters.';
  if (!ROOM_RE.test(room)) return 'Use only letters, digits and _ - . ~ in the room key.';
  return '';
}

export function validName(name) {
  if (!name) return 'Enter your name.';
  if ([...name].length > 64) return 'The name is longer than 64 characters.';
  if (CONTROL_RE.test(name)) return 'The name cannot contain control characters.';
  return '';
}

export function showFieldError(input, box, message) {
  box.textContent = message;
  box.hidden = !message;
  if (message) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}
