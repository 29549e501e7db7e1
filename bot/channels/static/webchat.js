// The local web chat: pick a person, chat, press choices, attach a photo or (admins) a CSV file
// with a caption. Plain DOM, no libraries. Every reply comes from GET /webchat/messages (the page
// is the web channel's dispatcher), read after each message sent and every few seconds, for
// messages that others' actions cause.
"use strict";

const POLL_MS = 2000;
// A message whose answer was lost (network, or the server busy) is sent again after these waits,
// with the same id, so the server takes it once however many tries reach it.
const RETRY_WAITS_MS = [500, 1500];
const IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp"];
// What the server keeps besides photos (from admins). Browsers guess a file's type from its name,
// and some call a .csv "application/vnd.ms-excel" or nothing at all, so the name decides.
const DOCUMENT_TYPES = { csv: "text/csv", txt: "text/plain" };
const ROLE_GROUPS = [
  ["admin", "Admins"],
  ["field_agent", "Field agents"],
  ["artisan", "Artisans"],
];

const state = { address: null, cursor: 0, polling: false, generation: 0, attached: null };
const $ = (id) => document.getElementById(id);

function bubble(kind, text) {
  const item = document.createElement("li");
  item.className = kind;
  if (text) item.append(document.createTextNode(text));
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

function renderMessage(message) {
  const item = bubble("them", message.text);
  for (const media of message.media) {
    item.append(picture(media.url, "a photo from Karakana"));
  }
  if (message.choices.length) {
    const choices = document.createElement("div");
    choices.className = "choices";
    choices.setAttribute("role", "group");
    choices.setAttribute("aria-label", "Choices");
    for (const choice of message.choices) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = choice.label;
      button.dataset.payload = choice.payload;
      button.addEventListener("click", () => sendChoice(choice));
      choices.append(button);
    }
    item.append(choices);
  }
  scrollToEnd();
}

async function poll() {
  if (!state.address || state.polling) return;
  state.polling = true;
  const generation = state.generation;
  try {
    const query = new URLSearchParams({ address: state.address, after: String(state.cursor) });
    const answer = await api(`/webchat/messages?${query}`);
    if (generation !== state.generation) return; // the person was switched meanwhile
    for (const message of answer.messages) renderMessage(message);
    state.cursor = answer.cursor;
    if (answer.person) $("chatting-as").textContent = `Chatting as ${describe(answer.person)}`;
  } catch (error) {
    showProblem(`Could not fetch replies: ${error.message}`);
  } finally {
    state.polling = false;
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
    if (document.visibilityState === "visible") poll();
  }, POLL_MS);
});
