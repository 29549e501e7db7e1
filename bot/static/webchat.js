// The local web chat: pick a person, chat, press choices, send photos. Plain DOM, no libraries.
// Every reply comes from GET /webchat/messages (the page is the web channel's dispatcher), read
// after each message sent and every few seconds, for messages that others' actions cause.
"use strict";

const POLL_MS = 2000;
const ROLE_GROUPS = [
  ["admin", "Admins"],
  ["field_agent", "Field agents"],
  ["artisan", "Artisans"],
];

const state = { address: null, cursor: 0, polling: false, generation: 0 };
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

async function api(path, options) {
  const response = await fetch(path, options);
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null;
  }
  if (!response.ok) {
    throw new Error((body && body.error) || `the server answered ${response.status}`);
  }
  return body;
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
  for (const id of ["text", "photo", "send"]) $(id).disabled = false;
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
    await api(`/webchat/send${query}`, request);
  } catch (error) {
    mine.classList.add("failed");
    showProblem(`Not sent: ${error.message}`);
  }
  await poll();
}

async function sendText(event) {
  event.preventDefault();
  const input = $("text");
  const text = input.value;
  if (!text.trim()) {
    showProblem("Type a message first.");
    return;
  }
  input.value = "";
  const mine = bubble("me", text);
  await post(mine, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ address: state.address, text }),
  });
  input.focus();
}

async function sendChoice(choice) {
  const mine = bubble("me", choice.label);
  await post(mine, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ address: state.address, text: choice.label, payload: choice.payload }),
  });
  $("text").focus();
}

async function sendPhoto() {
  const input = $("photo");
  const file = input.files[0];
  if (!file) return;
  const mine = bubble("me", "");
  mine.append(picture(URL.createObjectURL(file), `your photo ${file.name}`));
  const query = new URLSearchParams({ address: state.address });
  await post(mine, {
    method: "POST",
    headers: { "Content-Type": file.type || "application/octet-stream" },
    body: file,
  }, `?${query}`);
  input.value = "";
}

document.addEventListener("DOMContentLoaded", () => {
  $("send-form").addEventListener("submit", sendText);
  $("who-form").addEventListener("submit", (event) => event.preventDefault());
  $("who").addEventListener("change", (event) => chooseAddress(event.target.value));
  $("photo").addEventListener("change", sendPhoto);
  loadPeople().catch((error) => showProblem(`Could not load people: ${error.message}`));
  setInterval(() => {
    if (document.visibilityState === "visible") poll();
  }, POLL_MS);
});
