// The local web chat: pick a person, chat, press choices, attach a photo or (admins) a CSV file
// with a caption. Plain DOM, no libraries. Every reply comes from GET /webchat/messages (the page
// is the web channel's dispatcher), read after each message sent and every few seconds, for
// messages that others' actions cause. Choosing a person loads their whole conversation first
// (what they said too, on any channel); messages held for a channel nobody sends on (WhatsApp or
// Telegram, in the demo) are shown and marked so. Choices are numbered: press one, or type its
// number. Text is only ever put in the page as text nodes; *bold* (WhatsApp's markup) is bold.
"use strict";

const POLL_MS = 2000;
// A message whose answer was lost (network, or the server busy) is sent again after these waits,
// with the same id, so the server takes it once however many tries reach it.
const RETRY_WAITS_MS = [500, 1500];
const IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp"];
// What the server keeps besides photos (from admins). Browsers guess a file's type from its name,
// and some call a .csv "application/vnd.ms-excel" or nothing at all, so the name decides.
const DOCUMENT_TYPES = { csv: "text/csv", txt: "text/plain" };
const CHANNEL_NAMES = { whatsapp: "WhatsApp", telegram: "Telegram", console: "the console" };
// WhatsApp's bold: *words*, the stars touching the words, on one line.
const BOLD = /\*(\S(?:[^*\n]*?\S)?)\*/g;
const ROLE_GROUPS = [
  ["admin", "Admins"],
  ["field_agent", "Field agents"],
  ["artisan", "Artisans"],
];

const state = {
  address: null,
  cursor: 0,
  polling: null, // the poll in flight, if any
  generation: 0,
  attached: null,
  needHistory: false,
  shown: new Set(), // keys of the messages on the page, so none is shown twice
};
const $ = (id) => document.getElementById(id);

// Text as text nodes, with *bold* as <strong>: nothing is ever parsed as HTML.
function appendFormatted(parent, text) {
  let last = 0;
  for (const match of text.matchAll(BOLD)) {
    if (match.index > last) parent.append(document.createTextNode(text.slice(last, match.index)));
    const strong = document.createElement("strong");
    strong.textContent = match[1];
    parent.append(strong);
    last = match.index + match[0].length;
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}

function bubble(kind, text, note) {
  const item = document.createElement("li");
  item.className = kind;
  if (note) {
    const label = document.createElement("span");
    label.className = "via";
    label.textContent = note;
    item.append(label);
  }
  if (text) appendFormatted(item, text);
  $("log").append(item);
  scrollToEnd();
  return item;
}

function scrollToEnd() {
  const pane = document.querySelector("main");
  pane.scrollTop = pane.scrollHeight;
}

function picture(src, alt) {
  const image = document.createElement("img");
  image.alt = alt;
  image.addEventListener("load", scrollToEnd); // it grows the bubble once it has a size
  image.src = src;
  return image;
}

function download(href, type) {
  // A document (an artisan's statement as a PDF): a link to save it, never shown inline.
  const link = document.createElement("a");
  link.href = href;
  link.textContent = type === "application/pdf" ? "PDF" : "file";
  link.setAttribute("download", "");
  link.className = "download";
  return link;
}

function showProblem(message) {
  const problem = $("problem");
  problem.textContent = message || "";
  problem.hidden = !message;
}

function describe(person) {
  const bits = [person.role.replace("_", " ")];
  if (person.area) bits.push(person.area);
  if (person.status && person.status !== "active") bits.push(person.status);
  return `${person.name} (${bits.join(", ")})`;
}

function newMessageId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function sizeOf(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function failure(message, retryable) {
  const error = new Error(message);
  error.retryable = retryable;
  return error;
}

async function api(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (_) {
    throw failure("the server could not be reached", true);
  }
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null;
  }
  if (!response.ok) {
    const message = (body && body.error) || `the server answered ${response.status}`;
    throw failure(message, [502, 503, 504].includes(response.status));
  }
  return body;
}

// Send once, and again while the answer is lost or the server busy: the message's id makes a
// second arrival harmless.
async function sendWithRetries(path, options) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await api(path, options);
    } catch (error) {
      if (!error.retryable || attempt >= RETRY_WAITS_MS.length) throw error;
      await new Promise((resolve) => setTimeout(resolve, RETRY_WAITS_MS[attempt]));
    }
  }
}

async function loadPeople() {
  const { people, new_person: newPerson } = await api("/webchat/people");
  const select = $("who");
  select.replaceChildren();
  const fresh = new Option("A new person (try registering)", newPerson.address);
  fresh.dataset.label = "a new person";
  select.append(fresh);
  for (const [role, title] of ROLE_GROUPS) {
    const group = document.createElement("optgroup");
    group.label = title;
    for (const person of people.filter((p) => p.role === role)) {
      const option = new Option(describe(person), person.address);
      option.dataset.label = describe(person);
      group.append(option);
    }
    if (group.children.length) select.append(group);
  }
  select.disabled = false;
  const remembered = sessionStorage.getItem("karakana.webchat.address");
  if (remembered && [...select.options].some((o) => o.value === remembered)) {
    select.value = remembered;
  }
  await chooseAddress(select.value);
}

async function chooseAddress(address) {
  state.address = address;
  state.cursor = 0;
  state.generation += 1;
  state.needHistory = true;
  state.shown = new Set();
  sessionStorage.setItem("karakana.webchat.address", address);
  $("log").replaceChildren();
  showProblem("");
  const option = $("who").selectedOptions[0];
  $("chatting-as").textContent = `Chatting as ${option ? option.dataset.label : address}`;
  detach();
  for (const id of ["text", "file", "send"]) $(id).disabled = false;
  await poll();
  $("text").focus();
}

// Where a message went, when not here: "held: would go by WhatsApp", "sent by Telegram"...
function noteFor(message) {
  const channel = CHANNEL_NAMES[message.channel];
  if (!channel) return "";
  if (message.held) return `held: would go by ${channel}`;
  return message.from === "person" ? `sent on ${channel}` : `sent by ${channel}`;
}

function renderMessage(message) {
  const mine = message.from === "person";
  const item = bubble(mine ? "me" : "them", message.text, noteFor(message));
  if (message.held) item.classList.add("held");
  for (const media of message.media) {
    if (media.content_type.startsWith("image/")) {
      item.append(picture(media.url, mine ? "a photo sent" : "a photo from Karakana"));
    } else {
      item.append(download(media.url, media.content_type));
    }
  }
  if (message.choices.length) {
    const choices = document.createElement("div");
    choices.className = "choices";
    choices.setAttribute("role", "group");
    choices.setAttribute("aria-label", "Choices: press one, or type its number");
    message.choices.forEach((choice, index) => {
      const button = document.createElement("button");
      button.type = "button";
      // A quantity question's shortcuts ("All 15") carry no number: a typed number is a count.
      button.textContent =
        message.numbered === false ? choice.label : `${index + 1}. ${choice.label}`;
      button.dataset.payload = choice.payload;
      button.addEventListener("click", () => sendChoice(choice));
      choices.append(button);
    });
    item.append(choices);
  }
  scrollToEnd();
}

function show(messages) {
  for (const message of messages) {
    if (state.shown.has(message.key)) continue;
    state.shown.add(message.key);
    renderMessage(message);
  }
}

// One poll at a time: a poll asked for while one is in flight waits for it, then asks again
// (the person may have been switched, or a message sent, meanwhile).
async function poll() {
  while (state.polling) await state.polling;
  if (!state.address) return;
  state.polling = pollOnce();
  try {
    await state.polling;
  } finally {
    state.polling = null;
  }
}

async function pollOnce() {
  const generation = state.generation;
  const history = state.needHistory;
  try {
    const query = new URLSearchParams({ address: state.address, after: String(state.cursor) });
    if (history) query.set("history", "1");
    const answer = await api(`/webchat/messages?${query}`);
    if (generation !== state.generation) return; // the person was switched meanwhile
    show(history ? answer.history : answer.messages);
    show(answer.held);
    state.cursor = answer.cursor;
    state.needHistory = false;
    if (answer.person) $("chatting-as").textContent = `Chatting as ${describe(answer.person)}`;
  } catch (error) {
    showProblem(`Could not fetch replies: ${error.message}`);
  }
}

async function post(mine, request, query = "") {
  showProblem("");
  try {
    await sendWithRetries(`/webchat/send${query}`, request);
  } catch (error) {
    mine.classList.add("failed");
    showProblem(`Not sent: ${error.message}`);
  }
  await poll();
}

function sendJson(message) {
  return {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ address: state.address, id: newMessageId(), ...message }),
  };
}

async function sendForm(event) {
  event.preventDefault();
  if (state.attached) {
    await sendFile();
  } else {
    await sendText();
  }
  $("text").focus();
}

async function sendText() {
  const input = $("text");
  const text = input.value;
  if (!text.trim()) {
    showProblem("Type a message, or attach a file, first.");
    return;
  }
  input.value = "";
  const mine = bubble("me", text);
  await post(mine, sendJson({ text }));
}

async function sendChoice(choice) {
  const mine = bubble("me", choice.label);
  await post(mine, sendJson({ text: choice.label, payload: choice.payload }));
  $("text").focus();
}

function uploadType(file) {
  const extension = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  if (IMAGE_TYPES.includes(file.type)) return file.type;
  return DOCUMENT_TYPES[extension] || file.type || "application/octet-stream";
}

function attach() {
  const input = $("file");
  const file = input.files[0];
  input.value = ""; // so choosing the same file again is still a change
  if (!file) return;
  state.attached = file;
  $("attachment-name").textContent = `Attached: ${file.name} (${sizeOf(file.size)})`;
  $("attachment").hidden = false;
  $("text").placeholder = "Add a caption (optional), then Send";
  showProblem("");
  $("text").focus();
}

function detach() {
  state.attached = null;
  $("attachment").hidden = true;
  $("attachment-name").textContent = "";
  $("text").placeholder = "Type a message, e.g. menu";
}

async function sendFile() {
  const file = state.attached;
  const input = $("text");
  const caption = input.value;
  detach();
  input.value = "";
  const type = uploadType(file);
  const mine = bubble("me", "");
  if (IMAGE_TYPES.includes(type)) {
    mine.append(picture(URL.createObjectURL(file), `your photo ${file.name}`));
  } else {
    const name = document.createElement("span");
    name.className = "file";
    name.textContent = `${file.name} (${sizeOf(file.size)})`;
    mine.append(name);
  }
  if (caption.trim()) {
    const words = document.createElement("div");
    words.className = "caption";
    words.textContent = caption;
    mine.append(words);
  }
  const query = new URLSearchParams({ address: state.address, id: newMessageId() });
  if (caption.trim()) query.set("caption", caption);
  await post(mine, {
    method: "POST",
    headers: { "Content-Type": type },
    body: file,
  }, `?${query}`);
}

document.addEventListener("DOMContentLoaded", () => {
  $("send-form").addEventListener("submit", sendForm);
  $("who-form").addEventListener("submit", (event) => event.preventDefault());
  $("who").addEventListener("change", (event) => chooseAddress(event.target.value));
  $("file").addEventListener("change", attach);
  $("attachment-remove").addEventListener("click", () => {
    detach();
    $("text").focus();
  });
  loadPeople().catch((error) => showProblem(`Could not load people: ${error.message}`));
  setInterval(() => {
    if (document.visibilityState === "visible" && !state.polling) poll();
  }, POLL_MS);
});
