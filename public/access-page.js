// The page's access controls around a RoomsClient: the secret field, the secret
// shown once, the owner's controls (lock, secret, remove, close), the credential
// offered at each (re)connect, and refusals explained. Helpers: access.js.

import {
  OWNER_CLOSES, explainRefusal, forgetOwnerToken, generateSecret, saveOwnerToken, savedOwnerToken, secretFromLocation, shareLinkWithSecret,
} from './access.js';

const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};

/**
 * @param {{ room: () => string, client: () => (import('./rooms-client').RoomsClient | null), addNotice: (text: string, kind?: string) => void, leave: () => void, renderMembers: () => void }} page
 */
export function accessPage(page) {
  const ui = {
    secret: $('secret'),
    generateSecret: $('generate-secret'),
    accessError: $('access-error'),
    secretOnce: $('secret-once'),
    secretOnceValue: $('secret-once-value'),
    secretOnceLink: $('secret-once-link'),
    copySecret: $('copy-secret'),
    copySecretLink: $('copy-secret-link'),
    ownerControls: $('owner-controls'),
    roomState: $('room-state'),
    lockRoom: $('lock-room'),
    rotateSecret: $('rotate-secret'),
    removeSecret: $('remove-secret'),
    closeRoom: $('close-room'),
  };
  const state = {
    /** The secret typed or generated for this room (memory only, never in a URL the server sees). */
    secret: '',
    /** A secret this page generated: shown once, when the room it protects is created. */
    secretToShow: '',
    role: 'member',
    locked: false,
    protected: false,
    /** The last connect offered the kept owner key (not the secret). */
    usedOwnerToken: false,
    /** Refused joins in a row (the browser cannot tell which refusal: access.js explainRefusal). */
    refusals: 0,
  };

  function sendCommand(command) {
    const client = page.client();
    const result = client ? client.command(command) : 'offline';
    if (result !== 'sent') page.addNotice('Not connected: try again once the room is open.', 'warn');
  }

  function render() {
    ui.ownerControls.hidden = state.role !== 'owner';
    ui.roomState.textContent = `${state.protected ? 'Protected by a secret' : 'Open to anyone with the key'}${state.locked ? ' · locked: no one new can join' : ''}`;
    ui.lockRoom.textContent = state.locked ? 'Unlock the room' : 'Lock the room';
    ui.removeSecret.disabled = !state.protected;
    ui.rotateSecret.textContent = state.protected ? 'Change the secret' : 'Protect with a secret';
    page.renderMembers();
  }

  function showSecretOnce(secret) {
    ui.secretOnceValue.value = secret;
    ui.secretOnceLink.value = shareLinkWithSecret(page.room(), secret);
    ui.secretOnce.hidden = false;
  }

  function newSecret() {
    ui.secret.value = generateSecret();
    state.secretToShow = ui.secret.value;
  }

  ui.generateSecret.addEventListener('click', newSecret);
  ui.secret.addEventListener('input', () => {
    state.secretToShow = '';
  });
  ui.copySecret.addEventListener('click', () => void copyField(ui.secretOnceValue));
  ui.copySecretLink.addEventListener('click', () => void copyField(ui.secretOnceLink));
  ui.lockRoom.addEventListener('click', () => sendCommand({ type: state.locked ? 'unlock' : 'lock' }));
  ui.rotateSecret.addEventListener('click', () => {
    const secret = generateSecret();
    state.secret = secret;
    sendCommand({ type: 'set_secret', secret });
    showSecretOnce(secret);
  });
  ui.removeSecret.addEventListener('click', () => {
    state.secret = '';
    sendCommand({ type: 'set_secret', secret: null });
    ui.secretOnce.hidden = true;
  });
  ui.closeRoom.addEventListener('click', () => {
    if (confirm('Close this room for everyone? Its members are disconnected and the room is deleted.')) sendCommand({ type: 'close_room' });
  });

  return {
    /** At start: a share link may carry the secret after the # (the page then takes it out of the address bar). */
    prefill() {
      const secret = secretFromLocation();
      if (secret) ui.secret.value = secret;
    },
    /** "Generate a key": a new room is protected by a generated secret unless the user clears the field. */
    roomGenerated() {
      if (!ui.secret.value) newSecret();
    },
    /** A join starts: take the secret from the field, forget the last room's state. */
    joining() {
      state.secret = ui.secret.value;
      state.role = 'member';
      state.locked = false;
      state.protected = false;
      ui.accessError.hidden = true;
      ui.secretOnce.hidden = true;
      ui.ownerControls.hidden = true;
    },
    /** Asked by the client at every (re)connect: the owner key kept for this room makes us its owner; else the secret, if any. */
    credential() {
      const ownerToken = savedOwnerToken(page.room());
      state.usedOwnerToken = Boolean(ownerToken);
      return ownerToken || state.secret;
    },
    offered() {
      return state.usedOwnerToken ? 'owner key' : 'secret';
    },
    isOwner() {
      return state.role === 'owner';
    },
    kick(name) {
      sendCommand({ type: 'kick', name });
    },
    welcome(welcome, again) {
      const room = page.room();
      state.role = welcome.role;
      state.protected = welcome.protected;
      state.refusals = 0;
      if (welcome.ownerToken !== undefined) {
        // This join created the room: keep the owner key in this browser, show a generated secret once.
        saveOwnerToken(room, welcome.ownerToken);
        if (state.usedOwnerToken) {
          // An owner key kept from a room since closed created this one, as its secret: put the
          // secret the user meant (or none) in its place.
          sendCommand({ type: 'set_secret', secret: state.secret || null });
          state.protected = Boolean(state.secret);
        }
        if (state.secretToShow && state.protected) showSecretOnce(state.secretToShow);
      } else if (!state.protected && state.secret && !again) {
        page.addNotice('This room is not protected: the secret you gave protects nothing.', 'warn');
      }
      // A kept owner key that no longer makes us the owner belongs to a room since closed.
      if (state.usedOwnerToken && state.role !== 'owner') forgetOwnerToken(room);
      state.secretToShow = '';
      render();
    },
    /** The `room` frame: the owner locked, unlocked, or changed the secret. */
    roomChanged({ locked, protected: isProtected }) {
      state.locked = locked;
      state.protected = isProtected;
      render();
      page.addNotice(`The room is now ${locked ? 'locked' : 'unlocked'} and ${isProtected ? 'protected by a secret' : 'open to anyone with the key'}.`);
    },
    /** 4001 / 4002: the owner's doing, in plain words; the text, or '' for another close. */
    ownerClose(code) {
      if (!OWNER_CLOSES[code]) return '';
      if (code === 4002) forgetOwnerToken(page.room());
      return OWNER_CLOSES[code];
    },
    /** The server refused the join (the upgrade never opened, /healthz answered): explain it, back to the form. */
    refused() {
      const room = page.room();
      state.refusals += 1;
      const sentSecret = Boolean(state.secret) && !state.usedOwnerToken;
      const why = explainRefusal({ sentSecret, usedOwnerToken: state.usedOwnerToken, failures: state.refusals });
      // A stale owner key must not be offered again and again: it counts as a wrong credential.
      if (state.usedOwnerToken) forgetOwnerToken(room);
      page.leave();
      ui.accessError.textContent = why;
      ui.accessError.hidden = false;
      ui.secret.focus();
    },
  };
}

async function copyField(input) {
  try {
    if (!navigator.clipboard || !window.isSecureContext) throw new Error('no clipboard');
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.focus();
    input.select();
    try {
      document.execCommand('copy');
    } catch {
      /* selected: the user copies it */
    }
  }
}
