// Passkeys (WebAuthn) with navigator.credentials: the server sends the options as JSON (base64url
// challenge and ids) and checks the answer (py_webauthn). Wires itself to what the page has:
//  - #passkey-sign in the approval dialog: a challenge bound to this document and version, then submit;
//  - #batch-passkey in the inbox's batch dialog: one challenge for the selected documents, then submit;
//  - .passkey-authorise buttons on the MFA page: answer an "mfa_change" challenge instead of a code;
//  - #passkey-add-form on the MFA page: register a new passkey.
// Messages come from data-* attributes of the templates (translated there).

function decode(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)).buffer;
}

function encode(buffer) {
  let text = "";
  new Uint8Array(buffer).forEach((byte) => { text += String.fromCharCode(byte); });
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

class Refused extends Error {
  constructor(message, code) { super(message); this.code = code; }
}

function csrfToken(form) {
  const field = (form || document).querySelector("[name=csrfmiddlewaretoken]")
    || document.querySelector("[name=csrfmiddlewaretoken]");
  return field ? field.value : "";
}

async function post(url, body, token) {
  const json = !(body instanceof FormData);
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: json ? { "X-CSRFToken": token, "Content-Type": "application/json" } : { "X-CSRFToken": token },
    body: json ? JSON.stringify(body) : body,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Refused(data.detail || String(response.status), data.code);
  return data;
}

function credentialJSON(credential) {
  const answer = credential.response;
  const out = {
    id: credential.id,
    rawId: encode(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
    response: { clientDataJSON: encode(answer.clientDataJSON) },
  };
  if (answer.authenticatorData) {
    out.response.authenticatorData = encode(answer.authenticatorData);
    out.response.signature = encode(answer.signature);
    if (answer.userHandle) out.response.userHandle = encode(answer.userHandle);
  }
  if (answer.attestationObject) {
    out.response.attestationObject = encode(answer.attestationObject);
    out.response.transports = answer.getTransports ? answer.getTransports() : [];
  }
  return out;
}

const descriptors = (list) => (list || []).map((item) => ({ ...item, id: decode(item.id) }));

// The answer of one of the user's passkeys to the challenge `url` hands out.
export async function passkeyAnswer(url, body, token) {
  const { publicKey } = await post(url, body, token);
  const options = { ...publicKey, challenge: decode(publicKey.challenge), allowCredentials: descriptors(publicKey.allowCredentials) };
  return credentialJSON(await navigator.credentials.get({ publicKey: options }));
}

export async function passkeyCreate(optionsUrl, registerUrl, body, name, token) {
  const { publicKey } = await post(optionsUrl, body, token);
  const options = {
    ...publicKey,
    challenge: decode(publicKey.challenge),
    user: { ...publicKey.user, id: decode(publicKey.user.id) },
    excludeCredentials: descriptors(publicKey.excludeCredentials),
  };
  const credential = await navigator.credentials.create({ publicKey: options });
  return post(registerUrl, { credential: credentialJSON(credential), name }, token);
}

const supported = () => Boolean(window.PublicKeyCredential && navigator.credentials);

function say(element, text) {
  if (!element) return;
  element.textContent = text;
  element.hidden = !text;
}

// What to tell the person: the server's message, or the browser's refusal (cancelled, timed out).
function why(error, holder) {
  if (error instanceof Refused) return error.message;
  if (error && error.name === "NotAllowedError") return holder.dataset.cancelled || error.message;
  return holder.dataset.failed || String(error);
}

// A passkey instead of the code: ask for a challenge bound to what the form approves (`body`), then send the
// form with the answer (the code field is no longer required).
function approveWithPasskey({ button, form, status, body, submitter }) {
  button.addEventListener("click", async () => {
    say(status, "");
    if (!supported()) { say(status, button.dataset.unsupported); return; }
    button.disabled = true;
    try {
      const answer = await passkeyAnswer(button.dataset.url, body(), csrfToken(form));
      form.querySelector("[name=webauthn]").value = JSON.stringify(answer);
      const otp = form.querySelector("[name=otp]");
      otp.required = false;
      otp.value = "";
      form.requestSubmit(submitter);
    } catch (error) {
      say(status, why(error, button));
    } finally {
      button.disabled = false;
    }
  });
}

const sign = document.getElementById("passkey-sign");
if (sign) {
  approveWithPasskey({
    button: sign,
    form: document.getElementById("decision-form"),
    status: document.getElementById("passkey-error"),
    body: () => {
      const body = new FormData();
      body.append("sha256", document.getElementById("shown-sha256").value);
      return body;
    },
    submitter: document.getElementById("approve-sign"),
  });
}

// The inbox's batch dialog: one challenge for every selected document (with the version the inbox listed);
// inbox.js clears the answer after the request, so it serves that one batch.
const batch = document.getElementById("batch-passkey");
if (batch) {
  const form = document.getElementById("batch-form");
  approveWithPasskey({
    button: batch,
    form,
    status: document.getElementById("batch-passkey-error"),
    body: () => new FormData(form),
    submitter: document.getElementById("batch-sign"),
  });
}

const mfa = document.getElementById("mfa-page");
if (mfa) {
  const status = document.getElementById("passkey-status");
  mfa.querySelectorAll(".passkey-authorise").forEach((button) => {
    button.addEventListener("click", async () => {
      const form = button.closest("form");
      say(status, "");
      if (!supported()) { say(status, mfa.dataset.unsupported); return; }
      try {
        const answer = await passkeyAnswer(mfa.dataset.challengeUrl, new FormData(), csrfToken(form));
        form.querySelector("[name=webauthn]").value = JSON.stringify(answer);
        const otp = form.querySelector("[name=otp]");
        if (otp) { otp.required = false; otp.value = ""; }
        form.requestSubmit();
      } catch (error) {
        say(status, why(error, mfa));
      }
    });
  });
  const add = document.getElementById("passkey-add-form");
  if (add) {
    add.addEventListener("submit", async (event) => {
      event.preventDefault();
      say(status, "");
      if (!supported()) { say(status, mfa.dataset.unsupported); return; }
      const body = new FormData(add);
      try {
        await passkeyCreate(add.dataset.optionsUrl, add.dataset.registerUrl, body, body.get("name") || "", csrfToken(add));
        window.location.reload();
      } catch (error) {
        add.querySelector("[name=webauthn]").value = "";
        say(status, why(error, mfa));
      }
    });
  }
}
