// The sandbox web chat: a phone-like Telegram private chat with a bot running
// against the local Bot API sandbox. Vanilla JS, no build step, nothing remote.
"use strict";

const I18N = {
  zh: {
    title: "清单征询 · 沙盒", bot: "机器人", noBot: "等待机器人连接……", users: "用户", userId: "用户 ID",
    userName: "名字", create: "新建用户", pickUser: "请选择或新建一个用户。", placeholder: "输入消息……",
    send: "发送", attach: "发送文件（输入框里写的文字作为文件说明一起发送，例如“版本：2026修订稿”）", menu: "命令菜单", edited: "已编辑", typing: "正在输入……",
    uploading: "正在发送文件……", photo: "[图片]", noCommands: "机器人还没有设置命令。", download: "下载",
    tooBig: "文件太大：不能超过 50 MB。", error: "出错了：", noAnswer: "机器人没有回应按钮。",
    online: "机器人", empty: "还没有消息。发送 /start 开始。", blocked: "已屏蔽机器人",
    role_organizer: "组织者", role_cadre: "干部", role_resident: "居民", role_custom: "用户", langButton: "EN",
    block: "屏蔽机器人", unblock: "解除屏蔽", edit: "编辑", editing: "编辑消息：", cancel: "取消", reply: "回复", replying: "回复：",
    linkTitle: "打开机器人链接：", linkAsCurrent: "以当前用户（{name}）打开", linkAsNew: "以新用户打开",
    linkAsOther: "以 {name} 打开", newUserName: "新用户 {id}",
    linkHint: "在 Telegram 里，谁点链接就是谁打开。要像新来的居民或干部那样试居民链接、干部邀请链接，请选“以新用户打开”。",
  },
  en: {
    title: "Qingdan · Sandbox", bot: "Bot", noBot: "Waiting for a bot to connect…", users: "Users", userId: "User ID",
    userName: "Name", create: "Create user", pickUser: "Pick or create a user.", placeholder: "Message…",
    send: "Send", attach: "Send a file (the text in the input goes with it as its caption, e.g. a version label)", menu: "Command menu", edited: "edited", typing: "typing…",
    uploading: "Sending file…", photo: "[photo]", noCommands: "The bot has set no commands.", download: "Download",
    tooBig: "File too large: 50 MB at most.", error: "Error: ", noAnswer: "The bot did not answer the button.",
    online: "bot", empty: "No messages yet. Send /start to begin.", blocked: "bot blocked",
    role_organizer: "Organizer", role_cadre: "Cadre", role_resident: "Resident", role_custom: "User", langButton: "中文",
    block: "Block bot", unblock: "Unblock", edit: "Edit", editing: "Editing: ", cancel: "Cancel", reply: "Reply", replying: "Reply to: ",
    linkTitle: "Open the bot link: ", linkAsCurrent: "Open as the current user ({name})", linkAsNew: "Open as a new user",
    linkAsOther: "Open as {name}", newUserName: "New user {id}",
    linkHint: "In Telegram, whoever taps a link opens it. To try a resident link or a cadre invite as someone new, pick “Open as a new user”.",
  },
};

const $ = (sel) => document.querySelector(sel);
const S = {
  lang: localStorage.getItem("qd-sandbox-lang") || "zh",
  token: null, bot: null, bots: [], presets: [], users: [], userId: null,
  messages: new Map(), replyKeyboard: null, commands: [], es: null, typingTimer: null, blocked: false,
  unread: new Map(), botEs: null,  // bot messages per user not on screen since they were last opened
  compose: null,  // {mode: "edit" | "reply", id}: what the composer's next send does instead of a plain message
};

function t(key, vars) {
  const text = (I18N[S.lang] && I18N[S.lang][key]) || I18N.zh[key] || key;
  return vars ? text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : text;
}

function applyLang() {
  document.documentElement.lang = S.lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  document.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  $("#lang-toggle").textContent = t("langButton");
  // a new user speaks the page's language unless picked otherwise (the form's reset comes back to it)
  for (const o of $("#new-lang").options) o.defaultSelected = o.value === (S.lang === "en" ? "en" : "zh-hans");
  renderUsers();
  renderAll();
  renderCompose();
  renderBlocked();
}

function api(path) { return `/sandbox/${encodeURIComponent(S.token)}${path}`; }

async function postJSON(url, body) {
  const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(data.error || r.statusText), { status: r.status });
  return data;
}

function toast(text, alert = false) {
  const el = $("#toast");
  el.textContent = text;
  el.className = alert ? "alert" : "";
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, alert ? 4000 : 2200);
}

// ---------------------------------------------------------------- config, bots and users
async function loadConfig() {
  const cfg = await (await fetch("/sandbox/config")).json();
  S.bots = cfg.bots; S.presets = cfg.presets || [];
  if (!localStorage.getItem("qd-sandbox-lang") && I18N[cfg.language] && cfg.language !== S.lang) {
    S.lang = cfg.language;  // the sandbox's language (the demo's LOCALE) until the visitor picks one
    applyLang();
  }
  const wanted = new URLSearchParams(location.search).get("token");
  const sel = $("#bot-select");
  sel.innerHTML = "";
  for (const b of S.bots) {
    const o = document.createElement("option");
    o.value = b.token; o.textContent = `${b.first_name} (@${b.username})`;
    sel.appendChild(o);
  }
  $("#no-bot").hidden = S.bots.length > 0;
  if (!S.bots.length) { setTimeout(loadConfig, 2000); return; }
  const pick = S.bots.find((b) => b.token === (S.token || wanted)) || S.bots[0];
  sel.value = pick.token;
  if (pick.token !== S.token) await selectBot(pick.token);
}

async function selectBot(token) {
  S.token = token;
  S.bot = S.bots.find((b) => b.token === token);
  const known = await (await fetch(api("/users"))).json();
  const byId = new Map(S.presets.map((p) => [p.id, { ...p }]));
  for (const u of known) if (!byId.has(u.id)) byId.set(u.id, { ...u, role: "custom" });
  for (const u of savedUsers()) if (!byId.has(u.id)) byId.set(u.id, { ...u, role: "custom" });  // (a restarted sandbox forgot them)
  S.users = [...byId.values()];
  S.unread = new Map();
  if (S.botEs) S.botEs.close();
  S.botEs = new EventSource(api("/events"));
  S.botEs.onmessage = (e) => handleBotEvent(JSON.parse(e.data));
  renderUsers();
  const wanted = Number(new URLSearchParams(location.search).get("user"));
  const first = S.users.find((u) => u.id === (S.userId || wanted));
  if (first) await openChat(first.id);
}

// The users made in this page, kept in the browser: a restarted sandbox starts empty and knows
// only the demo's database people, so they are listed again and given their names back.
function usersKey() { return `qd-sandbox-users:${S.token}`; }
function savedUsers() {
  try { return JSON.parse(localStorage.getItem(usersKey()) || "[]").filter((u) => u && Number.isInteger(u.id)); }
  catch { return []; }
}
function saveUsers() {
  const kept = S.users.filter((u) => u.role === "custom" && u.first_name)
    .map((u) => ({ id: u.id, first_name: u.first_name, language_code: u.language_code }));
  localStorage.setItem(usersKey(), JSON.stringify(kept));
}
function profile(u) {
  const body = { id: u.id };
  for (const k of ["first_name", "last_name", "username", "language_code"]) if (u[k]) body[k] = u[k];
  return body;
}

function renderUsers() {
  const list = $("#user-list");
  list.innerHTML = "";
  for (const u of S.users) {
    const b = document.createElement("button");
    b.type = "button"; b.dataset.id = u.id;
    b.className = u.id === S.userId ? "active" : "";
    b.textContent = `${u.first_name} · ${u.id}`;
    const role = document.createElement("span");
    role.className = "role"; role.textContent = t(`role_${u.role || "custom"}`);
    b.appendChild(role);
    const unread = S.unread.get(u.id);
    if (unread && u.id !== S.userId) {
      const badge = document.createElement("span");
      badge.className = "unread"; badge.textContent = String(unread);
      b.appendChild(badge);
    }
    b.addEventListener("click", () => openChat(u.id));
    list.appendChild(b);
  }
}

async function openChat(userId) {
  const u = S.users.find((x) => x.id === userId) || { id: userId };
  await postJSON(api("/users"), profile(u));
  saveUsers();
  S.userId = userId;
  S.unread.delete(userId);
  S.messages = new Map(); S.replyKeyboard = null; S.commands = [];
  setCompose(null);
  renderUsers();
  $("#chat-title").textContent = S.bot ? `${S.bot.first_name}  @${S.bot.username}` : "—";
  if (S.es) S.es.close();
  S.es = new EventSource(api(`/chats/${userId}/events`));
  S.es.onmessage = (e) => handleEvent(JSON.parse(e.data));
  // on a phone-width window the chat is below the user list: bring it into view
  if (window.matchMedia("(max-width: 760px)").matches) $("#phone").scrollIntoView({ block: "start" });
  $("#input").focus({ preventScroll: true });
}

// Every chat's news: a user who first wrote (listed), a bot message to a user not on screen (counted).
function handleBotEvent(ev) {
  if (ev.type === "user" && !S.users.some((u) => u.id === ev.user.id)) {
    S.users.push({ ...ev.user, role: "custom" });
    renderUsers();
  } else if (ev.type === "message" && ev.user_id !== S.userId) {
    S.unread.set(ev.user_id, (S.unread.get(ev.user_id) || 0) + 1);
    renderUsers();
  }
}

function handleEvent(ev) {
  switch (ev.type) {
    case "snapshot": {
      // after a sandbox restart the stream comes back to a sandbox that made the user anew, nameless
      // ("User N"): tell it the name again before anything is sent
      const u = S.users.find((x) => x.id === S.userId);
      if (u && u.first_name && ev.user && ev.user.first_name !== u.first_name)
        postJSON(api("/users"), profile(u)).catch(() => {});
      S.blocked = !!ev.blocked; renderBlocked();
      S.messages = new Map(ev.messages.map((m) => [m.message_id, m]));
      S.replyKeyboard = ev.reply_keyboard; S.commands = ev.commands || [];
      renderAll(); break;
    }
    case "message": case "edit":
      S.messages.set(ev.message.message_id, ev.message);
      if (ev.type === "message" && ev.message.from_bot) setStatus("");
      renderMessage(ev.message, ev.type === "message"); break;
    case "delete":
      S.messages.delete(ev.message_id);
      if (S.compose && S.compose.id === ev.message_id) setCompose(null);
      document.querySelector(`.msg[data-id="${ev.message_id}"]`)?.remove(); break;
    case "keyboard": S.replyKeyboard = ev.reply_keyboard; renderReplyKeyboard(); break;
    case "commands": S.commands = ev.commands || []; renderCommands(); break;
    case "blocked": S.blocked = !!ev.blocked; renderBlocked(); break;
    case "action": setStatus(ev.action === "typing" ? t("typing") : t("uploading"), 5000); break;
  }
}

function setStatus(text, ms) {
  $("#chat-status").textContent = text || (S.blocked ? t("blocked") : "");
  clearTimeout(S.typingTimer);
  if (ms) S.typingTimer = setTimeout(() => setStatus(""), ms);
}

// Blocking the bot, as a Telegram user can (the bot gets my_chat_member; writing to it unblocks it).
function renderBlocked() {
  const b = $("#block-btn");
  b.hidden = S.userId == null;
  b.textContent = t(S.blocked ? "unblock" : "block");
  setStatus("");
}

// ---------------------------------------------------------------- rendering
const TAGS = { bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code", pre: "pre",
               blockquote: "blockquote", expandable_blockquote: "blockquote" };

function safeHref(url) { return /^(https?:|tg:|mailto:)/i.test(url || "") ? url : null; }

// A deep link to the sandbox's own bot (t.me/<bot>?start=X, telegram.me/…, tg://resolve?domain=<bot>&start=X):
// its start parameter ("" for a bare ?start), or null for any other URL.
function deepLinkStart(url) {
  if (!S.bot || !url) return null;
  let u;
  try { u = new URL(/^[a-z][a-z0-9+.-]*:/i.test(url) ? url : `https://${url}`); } catch { return null; }
  let name;
  if (u.protocol === "tg:") name = u.hostname === "resolve" || u.pathname.replace(/^\/+/, "") === "resolve"
    ? u.searchParams.get("domain") : null;
  else if (/^https?:$/.test(u.protocol) && /^(www\.)?(t|telegram)\.me$/i.test(u.hostname))
    name = u.pathname.replace(/^\/+|\/+$/g, "");
  const start = u.searchParams.get("start");
  if (!name || start === null || name.toLowerCase() !== String(S.bot.username).toLowerCase()) return null;
  return start;
}

// A link element: a deep link to this bot sends /start <param> as the current user, as
// Telegram does, instead of leaving the page; anything else opens in a new tab.
function linkElement(url) {
  const el = document.createElement("a");
  const start = deepLinkStart(url);
  const href = safeHref(url) || (/^(www\.)?(t|telegram)\.me\//i.test(url) ? `https://${url}` : null);
  if (href) el.href = href;
  if (start !== null) {
    el.classList.add("deep-link");
    el.dataset.start = start;
    el.title = start ? `/start ${start}` : "/start";
    el.addEventListener("click", (ev) => { ev.preventDefault(); openLinkMenu(start); });
  } else if (href) { el.target = "_blank"; el.rel = "noopener noreferrer"; }
  return el;
}

// A tap on a deep link asks who opens it: the current user (as Telegram does), a new user (to try a
// resident link or a cadre invite as someone new, without copying it and switching users), or another one.
function openLinkMenu(start) {
  const box = $("#link-menu");
  const command = start ? `/start ${start}` : "/start";
  box.innerHTML = "";
  const title = document.createElement("div"); title.className = "title";
  title.textContent = t("linkTitle") + command;
  const hint = document.createElement("p"); hint.className = "hint"; hint.textContent = t("linkHint");
  box.append(title, hint);
  const option = (as, text, action) => {
    const b = document.createElement("button"); b.type = "button"; b.dataset.as = as; b.textContent = text;
    b.addEventListener("click", async () => { closeLinkMenu(); await action(); });
    box.appendChild(b);
    return b;
  };
  const current = S.users.find((u) => u.id === S.userId);
  const first = current ? option("current", t("linkAsCurrent", { name: current.first_name || current.id }),
                                 () => sendText(command)) : null;
  const fresh = option("new", t("linkAsNew"), async () => {
    const used = new Set(S.users.map((u) => u.id));
    let id = 5001;
    while (used.has(id)) id++;
    S.users.push({ id, first_name: t("newUserName", { id }), language_code: S.lang === "en" ? "en" : "zh-hans",
                   role: "custom" });
    await openChat(id);
    await sendText(command);
  });
  for (const u of S.users) {
    if (u.id === S.userId) continue;
    option(`user-${u.id}`, t("linkAsOther", { name: u.first_name || u.id }), async () => {
      await openChat(u.id);
      await sendText(command);
    });
  }
  option("cancel", t("cancel"), async () => {}).className = "cancel";
  box.hidden = false;
  $("#link-backdrop").hidden = false;
  (first || fresh).focus();
}

function closeLinkMenu() { $("#link-menu").hidden = true; $("#link-backdrop").hidden = true; }

// URLs in plain text become links (Telegram's clients do this too; the sandbox adds no url entities).
const URL_RE = /\b(?:https?:\/\/[^\s<>"']+|(?:www\.)?(?:t|telegram)\.me\/[^\s<>"']+|tg:\/\/[^\s<>"']+)/gi;

function appendText(parent, text, inLink) {
  if (inLink || !text) { if (text) parent.appendChild(document.createTextNode(text)); return; }
  let pos = 0;
  for (const match of text.matchAll(URL_RE)) {
    const url = match[0].replace(/[.,;:!?)\]}。，；：！？）」』]+$/u, "");
    if (match.index > pos) parent.appendChild(document.createTextNode(text.slice(pos, match.index)));
    const a = linkElement(url);
    a.textContent = url;
    parent.appendChild(a);
    pos = match.index + url.length;
  }
  if (pos < text.length) parent.appendChild(document.createTextNode(text.slice(pos)));
}

function entityElement(e, text) {
  let el;
  if (TAGS[e.type]) el = document.createElement(TAGS[e.type]);
  else if (e.type === "text_link" || e.type === "url") el = linkElement(e.type === "url" ? text : e.url);
  else if (e.type === "spoiler") {
    el = document.createElement("span"); el.className = "spoiler";
    el.addEventListener("click", () => el.classList.add("shown"));
  } else if (e.type === "bot_command") {
    el = document.createElement("span"); el.className = "cmd";
    el.addEventListener("click", () => sendText(text));
  } else el = document.createElement("span");
  return el;
}

// Entities are properly nested; offsets count UTF-16 units, as JS strings do.
function renderText(parent, text, entities, start = 0, end = text.length, inLink = false) {
  const ents = (entities || []).slice().sort((a, b) => a.offset - b.offset || b.length - a.length);
  const plain = (a, b) => appendText(parent, text.slice(a, b), inLink);
  let pos = start, i = 0;
  while (i < ents.length) {
    const e = ents[i];
    if (e.offset < pos || e.offset >= end) { i++; continue; }
    if (e.offset > pos) plain(pos, e.offset);
    const eEnd = Math.min(end, e.offset + e.length);
    const el = entityElement(e, text.slice(e.offset, eEnd));
    const inner = [];
    for (i++; i < ents.length && ents[i].offset < eEnd; i++) inner.push(ents[i]);
    const link = inLink || e.type === "text_link" || e.type === "url" || e.type === "code" || e.type === "pre";
    renderText(el, text, inner, e.offset, eEnd, link);
    parent.appendChild(el);
    pos = eEnd;
  }
  if (pos < end) plain(pos, end);
}

// A document's icon, drawn by the page (an emoji shows as an empty box where no emoji font is installed).
function fileIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24"); svg.setAttribute("width", "18"); svg.setAttribute("height", "18");
  svg.setAttribute("aria-hidden", "true"); svg.classList.add("file-icon");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M6 2h8l5 5v15H6z M14 2v5h5 M9 12h7 M9 16h7");
  path.setAttribute("fill", "none"); path.setAttribute("stroke", "currentColor"); path.setAttribute("stroke-width", "1.6");
  path.setAttribute("stroke-linejoin", "round");
  svg.appendChild(path);
  return svg;
}

function time(ts) { const d = new Date(ts * 1000); return d.toTimeString().slice(0, 5); }

function buildMessage(m) {
  const div = document.createElement("div");
  div.className = `msg ${m.from_bot ? "bot" : "user"}`;
  div.dataset.id = m.message_id;
  if (m.photo) {  // shown, opened full size in a new tab on a tap, and saved with 下载 (a QR code to print)
    const full = document.createElement("a");
    full.href = m.photo.url; full.target = "_blank"; full.rel = "noopener";
    const img = document.createElement("img");
    img.src = m.photo.url; img.alt = "photo";
    // its size up front, so the chat scrolled to the newest message stays there as the image loads
    if (m.photo.width && m.photo.height) { img.width = m.photo.width; img.height = m.photo.height; }
    full.appendChild(img);
    const save = document.createElement("a");
    save.className = "save"; save.href = `${m.photo.url}?download=1`; save.download = m.photo.file_name || "photo";
    save.textContent = `⬇ ${t("download")}`;
    div.append(full, save);
  }
  if (m.document) {
    const d = document.createElement("div"); d.className = "doc";
    const a = document.createElement("a");
    a.href = m.document.url; a.download = m.document.file_name || "file";
    a.append(fileIcon(), document.createTextNode(m.document.file_name || "file"));
    const size = document.createElement("span"); size.className = "hint";
    size.textContent = `${(m.document.file_size / 1024).toFixed(1)} KB`;
    d.append(a, size); div.appendChild(d);
  }
  if (m.reply_to_message_id != null) {  // the message it replies to, quoted above it as Telegram shows it
    const q = document.createElement("div"); q.className = "quote";
    q.textContent = snippet(S.messages.get(m.reply_to_message_id)) || "…";
    div.appendChild(q);
  }
  const body = document.createElement("div"); body.className = "text";
  if (m.text != null) renderText(body, m.text, m.entities);
  else if (m.caption) renderText(body, m.caption, m.caption_entities);
  div.appendChild(body);
  const kb = m.reply_markup && m.reply_markup.inline_keyboard;
  if (kb && kb.length) {
    const box = document.createElement("div"); box.className = "inline-kb";
    for (const row of kb) {
      const r = document.createElement("div"); r.className = "row";
      for (const btn of row) {
        let b;
        if (btn.url && (safeHref(btn.url) || deepLinkStart(btn.url) !== null)) {
          b = linkElement(btn.url);
        } else {
          b = document.createElement("button"); b.type = "button";
          if (btn.callback_data != null) b.addEventListener("click", () => press(m.message_id, btn.callback_data, b));
          else if (btn.copy_text) b.addEventListener("click", () => navigator.clipboard?.writeText(btn.copy_text.text));
        }
        b.textContent = btn.text;
        r.appendChild(b);
      }
      box.appendChild(r);
    }
    div.appendChild(box);
  }
  const meta = document.createElement("div"); meta.className = "meta";
  const reply = document.createElement("button"); reply.type = "button"; reply.className = "act reply";
  reply.textContent = "↩"; reply.title = t("reply");
  reply.addEventListener("click", () => setCompose({ mode: "reply", id: m.message_id }));
  meta.appendChild(reply);
  if (!m.from_bot && (m.text != null || m.document || m.photo)) {  // as in Telegram: a message of one's own can be edited
    const b = document.createElement("button"); b.type = "button"; b.className = "act edit";
    b.textContent = "✎"; b.title = t("edit");
    b.addEventListener("click", () => setCompose({ mode: "edit", id: m.message_id }));
    meta.appendChild(b);
  }
  meta.appendChild(document.createTextNode((m.edited ? `${t("edited")} ` : "") + time(m.edit_date || m.date)));
  div.appendChild(meta);
  return div;
}

function renderMessage(m, scroll) {
  const box = $("#messages");
  box.querySelector(":scope > .hint")?.remove();  // "no messages yet", not a document's size
  const el = buildMessage(m);
  const old = box.querySelector(`.msg[data-id="${m.message_id}"]`);
  // a chat at its newest message stays there when a message is edited taller (the next question,
  // edited in place, with more buttons than the last); one scrolled back to read stays put
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  if (old) old.replaceWith(el); else box.appendChild(el);
  if (scroll || !old || atBottom) box.scrollTop = box.scrollHeight;
}

function renderAll() {
  const box = $("#messages");
  box.innerHTML = "";
  if (S.userId == null) {
    box.innerHTML = `<p class="hint">${t("pickUser")}</p>`;
  } else if (!S.messages.size) {
    const p = document.createElement("p"); p.className = "hint"; p.textContent = t("empty"); box.appendChild(p);
  }
  for (const m of S.messages.values()) box.appendChild(buildMessage(m));
  box.scrollTop = box.scrollHeight;
  renderReplyKeyboard();
  renderCommands();
}

function renderReplyKeyboard() {
  const box = $("#reply-kb");
  box.innerHTML = "";
  const kb = S.replyKeyboard && S.replyKeyboard.keyboard;
  box.hidden = !(kb && kb.length);
  if (box.hidden) return;
  for (const row of kb) {
    const r = document.createElement("div"); r.className = "row";
    for (const btn of row) {
      const b = document.createElement("button"); b.type = "button";
      b.textContent = btn.text;
      b.addEventListener("click", () => sendText(btn.text));
      r.appendChild(b);
    }
    box.appendChild(r);
  }
}

function renderCommands() {
  const box = $("#commands-menu");
  box.innerHTML = "";
  if (!S.commands.length) {
    const p = document.createElement("p"); p.className = "hint"; p.style.padding = "8px 12px";
    p.textContent = t("noCommands"); box.appendChild(p); return;
  }
  for (const c of S.commands) {
    const b = document.createElement("button"); b.type = "button";
    const name = document.createElement("b"); name.textContent = `/${c.command}`;
    b.append(name, document.createTextNode(c.description));
    b.addEventListener("click", () => { box.hidden = true; sendText(`/${c.command}`); });
    box.appendChild(b);
  }
}

function snippet(m) {
  if (!m) return "";
  const s = m.text != null ? m.text : m.caption || (m.document ? m.document.file_name : m.photo ? t("photo") : "");
  return s.replace(/\s+/g, " ").slice(0, 60);
}

// The composer's context: editing a message of the user's own (the input holds its text), or
// replying to a message (what is sent next replies to it).
function setCompose(c) {
  S.compose = c;
  if (c && c.mode === "edit") {
    const m = S.messages.get(c.id);
    $("#input").value = m ? (m.text != null ? m.text : m.caption || "") : "";
    fitInput();
  }
  renderCompose();
  if (c) $("#input").focus();
}

function renderCompose() {
  const box = $("#compose-context");
  const c = S.compose;
  box.hidden = !c;
  if (!c) return;
  box.querySelector(".what").textContent = t(c.mode === "edit" ? "editing" : "replying") + snippet(S.messages.get(c.id));
  box.querySelector("button").title = t("cancel");
}

// ---------------------------------------------------------------- actions
async function sendText(text, replyTo = null) {
  if (!text.trim() || S.userId == null) return;
  const body = { text };
  if (replyTo != null) body.reply_to_message_id = replyTo;
  try { await postJSON(api(`/users/${S.userId}/send`), body); }
  catch (e) { toast(t("error") + e.message); }
}

async function editText(messageId, text) {
  const m = S.messages.get(messageId);
  if (S.userId == null || (!text.trim() && !(m && (m.document || m.photo)))) return;
  try { await postJSON(api(`/users/${S.userId}/edit`), { message_id: messageId, text }); }
  catch (e) { toast(t("error") + e.message); }
}

async function press(messageId, data, button) {
  button.classList.add("busy");
  try {
    const r = await postJSON(api(`/users/${S.userId}/press`), { message_id: messageId, data, wait: 10 });
    if (r.answered && r.text) toast(r.text, r.show_alert);
    else if (!r.answered) toast(t("noAnswer"));
  } catch (e) { toast(t("error") + e.message); }
  finally { button.classList.remove("busy"); }
}

async function upload(file) {
  if (S.userId == null) return;
  if (file.size > 50 * 1024 * 1024) { toast(t("tooBig")); return; }
  const form = new FormData();
  form.append(file.type.startsWith("image/") && file.size < 10 * 1024 * 1024 ? "photo" : "document", file, file.name);
  const c = S.compose;
  const caption = c && c.mode === "edit" ? "" : $("#input").value.trim();  // (not the text being edited)
  if (caption) form.append("caption", caption);
  if (c && c.mode === "reply") form.append("reply_to_message_id", String(c.id));
  setCompose(null);
  const r = await fetch(api(`/users/${S.userId}/upload`), { method: "POST", body: form });
  if (r.ok || (c && c.mode === "edit")) $("#input").value = "";
  else toast(r.status === 413 ? t("tooBig") : t("error") + ((await r.json().catch(() => ({}))).error || r.statusText));
}

// ---------------------------------------------------------------- wiring
$("#block-btn").addEventListener("click", async () => {
  if (S.userId == null) return;
  try { await postJSON(api(`/users/${S.userId}/block`), { blocked: !S.blocked }); }
  catch (e) { toast(t("error") + e.message); }
});
$("#composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("#input");
  const text = input.value;
  const c = S.compose;
  input.value = "";
  fitInput();
  setCompose(null);
  if (c && c.mode === "edit") editText(c.id, text); else sendText(text, c ? c.id : null);
});
$("#compose-context button").addEventListener("click", () => { setCompose(null); $("#input").value = ""; });
$("#link-backdrop").addEventListener("click", closeLinkMenu);
document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !$("#link-menu").hidden) closeLinkMenu(); });
// Enter sends, Shift+Enter starts a new line (a message of several lines, as Telegram allows); the
// box grows with its lines up to a few, then scrolls.
function fitInput() {
  const input = $("#input");
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight + 2, 140)}px`;
}
$("#input").addEventListener("input", fitInput);
$("#input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("#composer").requestSubmit(); }
  if (e.key === "Escape" && S.compose) { setCompose(null); $("#input").value = ""; }
});
$("#file-input").addEventListener("change", (e) => { const f = e.target.files[0]; e.target.value = ""; if (f) upload(f); });
$("#menu-btn").addEventListener("click", () => { const m = $("#commands-menu"); m.hidden = !m.hidden; });
$("#bot-select").addEventListener("change", (e) => { S.userId = null; selectBot(e.target.value); });
$("#lang-toggle").addEventListener("click", () => {
  S.lang = S.lang === "zh" ? "en" : "zh";
  localStorage.setItem("qd-sandbox-lang", S.lang);
  applyLang();
});
$("#new-user").addEventListener("submit", async (e) => {
  e.preventDefault();
  const id = Number($("#new-id").value);
  if (!id || !S.token) return;
  const user = { id, first_name: $("#new-name").value.trim(), language_code: $("#new-lang").value, role: "custom" };
  const existing = S.users.findIndex((u) => u.id === id);
  if (existing >= 0) S.users[existing] = { ...S.users[existing], ...user }; else S.users.push(user);
  e.target.reset();
  await openChat(id);
});

applyLang();
loadConfig().catch((e) => toast(t("error") + e.message));
