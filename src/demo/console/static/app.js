// The console page: one channel, the DMs and the cluster, for the person chosen in the user
// switcher. Everything shown comes from GET /api/state; every command, click and form goes to
// the server, which sends it to restorebot signed as Slack would. Server-Sent Events say when
// to fetch the state again.

import { renderBlocks, renderMessageContent } from "./block-kit.js";
import { escapeHtml, renderText } from "./mrkdwn.js";

const USER_KEY = "restorebot-demo-user";

const page = {
  me: localStorage.getItem(USER_KEY) ?? "",
  data: undefined,
  collapsedThreads: new Set(),
  /** Rendered timeline items by key, with the JSON they were drawn from. */
  rendered: new Map(),
  modalKey: undefined,
  stickToBottom: true,
};

const $ = (selector) => document.querySelector(selector);
const timeline = $(".timeline");

// ---- talking to the server ------------------------------------------------------------------

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user: page.me, ...body }),
  });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(json.error ?? `HTTP ${response.status}`);
  return json;
}

let fetching = false;
let again = false;
async function refresh() {
  if (fetching) {
    again = true;
    return;
  }
  fetching = true;
  try {
    do {
      again = false;
      const response = await fetch(`/api/state?user=${encodeURIComponent(page.me)}`);
      if (response.ok) render(await response.json());
    } while (again);
  } catch (err) {
    console.warn("state refresh failed", err);
  } finally {
    fetching = false;
  }
}

function connect() {
  const connection = $('[data-testid="connection"]');
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => {
    connection.dataset.state = "live";
    connection.textContent = "live";
  });
  events.addEventListener("error", () => {
    connection.dataset.state = "reconnecting";
    connection.textContent = "reconnecting…";
  });
  events.addEventListener("change", () => void refresh());
}

// ---- formatting -----------------------------------------------------------------------------

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function textContext() {
  return { names: page.data?.names ?? {}, channels: page.data?.channels ?? {} };
}

// ---- user switcher --------------------------------------------------------------------------

function renderUsers(users) {
  const switcher = $('[data-testid="user-switcher"]');
  if (!switcher.querySelector("button")) {
    for (const user of users) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = `user role-${user.role}`;
      button.setAttribute("role", "radio");
      button.dataset.testid = `user-${user.id}`;
      button.dataset.user = user.id;
      button.innerHTML = `<span class="avatar" aria-hidden="true">${escapeHtml(user.name[0] ?? "?")}</span>${escapeHtml(user.label)}`;
      button.addEventListener("click", () => switchUser(user.id));
      switcher.append(button);
    }
  }
  for (const button of switcher.querySelectorAll("button")) {
    button.setAttribute("aria-checked", String(button.dataset.user === page.me));
  }
}

function switchUser(id) {
  if (id === page.me) return;
  page.me = id;
  localStorage.setItem(USER_KEY, id);
  page.modalKey = undefined;
  renderUsers(page.data?.users ?? []);
  void refresh();
}

// ---- actions, confirmation dialogs and modals -------------------------------------------------

function confirmWith(confirm) {
  const dialog = $('[data-testid="confirm-dialog"]');
  const ctx = textContext();
  $('[data-testid="confirm-title"]').innerHTML = renderText(confirm.title, ctx);
  $('[data-testid="confirm-text"]').innerHTML = renderText(confirm.text, ctx);
  const ok = $('[data-testid="confirm-ok"]');
  ok.innerHTML = renderText(confirm.confirm ?? { type: "plain_text", text: "Yes" }, ctx);
  ok.className = confirm.style === "danger" ? "danger" : "primary";
  $('[data-testid="confirm-deny"]').innerHTML = renderText(
    confirm.deny ?? { type: "plain_text", text: "Cancel" },
    ctx,
  );
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), {
      once: true,
    });
  });
}

function actionHandler(item) {
  return async ({ element, blockId, button }) => {
    // Slack asks first when a button carries a confirmation dialog, and sends nothing on "no".
    if (element.confirm && !(await confirmWith(element.confirm))) return;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      await post("/api/action", {
        channel: page.data.slack.channel.id,
        messageTs: item.ts,
        ephemeral: item.kind === "ephemeral",
        actionId: element.action_id,
        blockId,
        value: element.value ?? "",
      });
    } catch (err) {
      alert(`The click did not reach restorebot: ${err.message}`);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  };
}

function renderModal(modal) {
  const dialog = $('[data-testid="modal"]');
  if (!modal) {
    page.modalKey = undefined;
    if (dialog.open) dialog.close();
    return;
  }
  const key = `${modal.viewId}:${modal.view.hash ?? ""}`;
  if (key !== page.modalKey) {
    page.modalKey = key;
    const view = modal.view;
    $('[data-testid="modal-title"]').innerHTML = renderText(view.title, textContext());
    $('[data-testid="modal-submit"]').textContent = view.submit?.text ?? "Submit";
    $('[data-testid="modal-submit"]').hidden = !view.submit;
    $('[data-testid="modal-close"]').textContent = view.close?.text ?? "Cancel";
    const body = dialog.querySelector(".modal-body");
    body.replaceChildren(renderBlocks(view.blocks, { ...textContext(), errors: modal.errors }));
    dialog.dataset.viewId = modal.viewId;
    if (!dialog.open) dialog.showModal();
    body.querySelector("input, textarea")?.focus();
  }
  // Errors change without the view changing: update them in place, keeping what was typed.
  for (const error of dialog.querySelectorAll(".bk-error")) {
    const blockId = error.closest(".bk-input")?.dataset.blockId ?? "";
    error.textContent = modal.errors?.[blockId] ?? "";
    error.hidden = !error.textContent;
  }
  const general = $('[data-testid="modal-error"]');
  general.textContent = modal.errors?.[""] ?? "";
  general.hidden = !general.textContent;
}

function setupModal() {
  const dialog = $('[data-testid="modal"]');
  const form = dialog.querySelector("form");
  const close = () => {
    const viewId = dialog.dataset.viewId;
    page.modalKey = undefined;
    dialog.close();
    if (viewId) post("/api/view/close", { viewId }).catch(() => undefined);
  };
  $('[data-testid="modal-close"]').addEventListener("click", close);
  $('[data-testid="modal-dismiss"]').addEventListener("click", close);
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    close();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = {};
    for (const field of form.querySelectorAll("[data-action-id]")) {
      values[field.dataset.blockId] ??= {};
      values[field.dataset.blockId][field.dataset.actionId] = field.value;
    }
    const submit = $('[data-testid="modal-submit"]');
    submit.disabled = true;
    try {
      await post("/api/view/submit", { viewId: dialog.dataset.viewId, values });
    } catch (err) {
      const general = $('[data-testid="modal-error"]');
      general.textContent = `The form did not reach restorebot: ${err.message}`;
      general.hidden = false;
    } finally {
      submit.disabled = false;
      void refresh();
    }
  });
}

// ---- the channel ------------------------------------------------------------------------------

function renderEphemeral(item) {
  const li = document.createElement("li");
  li.className = `item ephemeral source-${item.source}`;
  li.dataset.testid = item.source === "command" ? "command-echo" : "ephemeral";
  li.dataset.ts = item.ts;
  if (item.source === "command") {
    li.innerHTML = `<div class="echo"><span class="avatar me" aria-hidden="true">${escapeHtml(
      (page.data.names[page.me] ?? "?")[0],
    )}</span><span>You used <code>${escapeHtml(item.text)}</code></span><time>${clock(item.postedAt)}</time></div>`;
    return li;
  }
  const head = document.createElement("div");
  head.className = "ephemeral-head";
  head.innerHTML = `<span class="bot-avatar" aria-hidden="true">rb</span><strong>restorebot</strong><span class="app-badge">APP</span><time>${clock(item.postedAt)}</time><span class="only-you">Only visible to you</span>`;
  const body = renderMessageContent(item, { ...textContext(), onAction: actionHandler(item) });
  body.classList.add("message-body");
  li.append(head, body);
  return li;
}

const edited = (item) =>
  item.edited
    ? `<span class="edited" data-testid="edited" title="${item.versions - 1} edit(s)">(edited)</span>`
    : "";

/**
 * A message; `compact` drops the name and avatar, as Slack does for a message following one
 * from the same author a moment earlier.
 */
function renderMessage(item, { reply = false, compact = false } = {}) {
  const li = document.createElement("li");
  li.className = `${reply ? "item reply" : "item message"}${compact ? " compact" : ""}`;
  li.dataset.testid = reply ? "thread-reply" : "message";
  li.dataset.ts = item.ts;
  const body = renderMessageContent(item, { ...textContext(), onAction: actionHandler(item) });
  body.classList.add("message-body");
  if (compact) {
    li.title = `restorebot, ${clock(item.postedAt)}`;
    // "(edited)" ends the text, as Slack shows it, instead of taking a line of its own.
    if (item.edited)
      (body.lastElementChild ?? body).insertAdjacentHTML("beforeend", ` ${edited(item)}`);
    li.append(body);
  } else {
    const head = document.createElement("div");
    head.className = "message-head";
    head.innerHTML = `<span class="bot-avatar" aria-hidden="true">rb</span><strong>restorebot</strong><span class="app-badge">APP</span><time>${clock(item.postedAt)}</time>${edited(item)}`;
    li.append(head, body);
  }
  if (!reply && item.replies.length) li.append(renderThread(item));
  return li;
}

function renderThread(parent) {
  const wrapper = document.createElement("div");
  wrapper.className = "thread";
  const collapsed = page.collapsedThreads.has(parent.ts);
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "thread-toggle";
  toggle.dataset.testid = "thread-toggle";
  toggle.setAttribute("aria-expanded", String(!collapsed));
  const count = parent.replyCount;
  toggle.textContent = `${count} ${count === 1 ? "reply" : "replies"}${collapsed ? "" : " · hide"}`;
  toggle.addEventListener("click", () => {
    if (page.collapsedThreads.has(parent.ts)) page.collapsedThreads.delete(parent.ts);
    else page.collapsedThreads.add(parent.ts);
    page.rendered.delete(`m:${parent.ts}`);
    render(page.data);
  });
  wrapper.append(toggle);
  if (!collapsed) {
    const list = document.createElement("ol");
    list.className = "thread-replies";
    list.dataset.testid = "thread";
    list.setAttribute("aria-label", "Thread");
    let previous;
    for (const reply of parent.replies) {
      const compact =
        reply.kind === "message" &&
        previous?.kind === "message" &&
        reply.postedAt - previous.postedAt < 5 * 60_000;
      list.append(
        reply.kind === "ephemeral"
          ? renderEphemeral(reply)
          : renderMessage(reply, { reply: true, compact }),
      );
      previous = reply;
    }
    wrapper.append(list);
  }
  return wrapper;
}

function renderTimeline(items) {
  const nearBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 160;
  const seen = new Set();
  let previous = null;
  for (const item of items) {
    const key = `${item.kind === "message" ? "m" : "e"}:${item.ts}`;
    seen.add(key);
    const json = JSON.stringify([item, page.collapsedThreads.has(item.ts), page.me]);
    let entry = page.rendered.get(key);
    if (!entry || entry.json !== json) {
      const node = item.kind === "message" ? renderMessage(item) : renderEphemeral(item);
      if (entry) entry.node.replaceWith(node);
      entry = { json, node };
      page.rendered.set(key, entry);
    }
    // Keep DOM order equal to the timeline's without moving nodes that are already in place.
    const expectedNext = previous ? previous.nextSibling : timeline.firstChild;
    if (expectedNext !== entry.node) timeline.insertBefore(entry.node, expectedNext);
    previous = entry.node;
  }
  for (const [key, entry] of page.rendered) {
    if (!seen.has(key)) {
      entry.node.remove();
      page.rendered.delete(key);
    }
  }
  if (!items.length && !timeline.querySelector(".empty")) {
    timeline.innerHTML = `<li class="empty">Nothing here yet. Type <code>/recovery-points</code> below to begin.</li>`;
  } else if (items.length) timeline.querySelector(".empty")?.remove();
  if (nearBottom || page.stickToBottom) {
    timeline.scrollTop = timeline.scrollHeight;
    page.stickToBottom = false;
  }
}

function renderDirectMessages(messages) {
  const list = $('[data-testid="dm-list"]');
  $('[data-testid="dm-owner"]').textContent = page.data.names[page.me] ?? page.me;
  const count = $('[data-testid="dm-count"]');
  count.textContent = String(messages.length);
  count.hidden = messages.length === 0;
  list.replaceChildren(
    ...messages.map((m) => {
      const li = document.createElement("li");
      li.className = "dm";
      li.dataset.testid = "dm-message";
      li.innerHTML = `<time>${clock(m.postedAt)}</time>`;
      li.append(renderMessageContent(m, textContext()));
      return li;
    }),
  );
  if (!messages.length) {
    list.innerHTML = `<li class="empty">No direct messages from restorebot yet.</li>`;
  }
}

// ---- the cluster ------------------------------------------------------------------------------

function podState(pod) {
  if (pod.terminating) return "terminating";
  if (pod.phase === "Pending") return "pending";
  return pod.ready ? "ready" : "starting";
}

function renderCluster(data) {
  const { cluster, originalReplicas, catalog, hasCatalog, clusterEvents } = data;
  $('[data-testid="cluster-where"]').textContent = `${cluster.namespace} · simulated`;
  // The operator's custom resource, when the simulated install has one with a paused field.
  const paused = cluster.customResource?.paused ?? false;
  const atOriginal = cluster.components.every(
    (c) =>
      c.specReplicas === originalReplicas[c.name] &&
      c.readyReplicas === c.specReplicas &&
      c.pods.every((p) => p.ready && !p.terminating),
  );
  const components = cluster.components
    .map((c) => {
      const pods = c.pods
        .map((p) => {
          const state = podState(p);
          return `<li class="pod ${state}" data-testid="pod-chip" data-state="${state}" title="${escapeHtml(p.name)}: ${state}"><span class="visually-hidden">${escapeHtml(p.name)} ${state}</span></li>`;
        })
        .join("");
      const changed = c.specReplicas !== originalReplicas[c.name];
      return `<li class="component${changed ? " changed" : ""}" data-testid="component-${escapeHtml(c.name)}" data-desired="${c.specReplicas}" data-ready="${c.readyReplicas}" data-original="${originalReplicas[c.name] ?? ""}">
        <div class="component-head"><span class="component-name">${escapeHtml(c.name)}</span><span class="kind">${c.kind === "StatefulSet" ? "sts" : "deploy"}</span>
        <span class="replicas" title="ready / desired">${c.readyReplicas}/${c.specReplicas}${changed ? ` <small>(was ${originalReplicas[c.name]})</small>` : ""}</span></div>
        <ul class="pods" aria-label="${escapeHtml(c.name)} pods">${pods || '<li class="no-pods">no pods</li>'}</ul>
      </li>`;
    })
    .join("");
  const catalogLine = catalog
    ? `${catalog.namespaces} namespaces · ${catalog.tables} tables · ${catalog.parquetFiles.toLocaleString()} Parquet files${
        catalog.driftedNamespaces.length
          ? ` · <span class="drift">includes ${catalog.driftedNamespaces.map(escapeHtml).join(", ")} (written after the snapshots)</span>`
          : ' · <span class="match">matches the snapshots</span>'
      }${catalog.busy ? ' · <span class="busy">being restored…</span>' : ""}`
    : hasCatalog
      ? "not readable"
      : undefined;
  // Only InfluxDB Clustered's scenario has a catalog database and an operator: other systems'
  // clusters show neither.
  const catalogSection =
    catalogLine === undefined
      ? ""
      : `<h3>Catalog database</h3>
    <p class="catalog" data-testid="catalog-summary">${catalogLine}</p>`;
  const operatorBadge = cluster.customResource
    ? `<span class="badge ${paused ? "warn" : "ok"}" data-testid="operator-status" data-paused="${paused}">Operator ${paused ? "paused" : "running"}</span>`
    : "";
  const events = clusterEvents
    .slice()
    .reverse()
    .map((e) => {
      const what =
        e.type === "pause"
          ? `operator ${e.to ? "paused" : "unpaused"}`
          : `${escapeHtml(e.component)} scaled ${e.from} → ${e.to}`;
      return `<li><time>${new Date(e.at).toLocaleTimeString()}</time> ${what}</li>`;
    })
    .join("");
  $(".cluster-body").innerHTML = `
    <div class="cluster-status">
      ${operatorBadge}
      <span class="badge ${atOriginal ? "ok" : "info"}" data-testid="cluster-original" data-at-original="${atOriginal}">${atOriginal ? "All components at their usual replicas" : "Components changed"}</span>
    </div>
    <ul class="components">${components}</ul>
    <ul class="legend" aria-label="Legend">
      <li><span class="pod ready"></span> ready</li><li><span class="pod starting"></span> starting</li>
      <li><span class="pod pending"></span> pending</li><li><span class="pod terminating"></span> terminating</li>
    </ul>
    ${catalogSection}
    <h3>Recent changes</h3>
    <ol class="cluster-events" data-testid="cluster-events">${events || "<li>none yet</li>"}</ol>`;
}

// ---- the failure to rehearse ----------------------------------------------------------------

function renderRehearsal(rehearsal) {
  const panel = $('[data-testid="rehearsal-panel"]');
  panel.hidden = !rehearsal;
  if (!rehearsal) return;
  $('[data-testid="rehearsal-label"]').textContent = rehearsal.label;
  $('[data-testid="rehearsal-detail"]').textContent = rehearsal.detail;
  const badge = $('[data-testid="rehearsal-state"]');
  badge.textContent = rehearsal.armed ? "on" : "off";
  badge.className = `badge ${rehearsal.armed ? "warn" : "ok"}`;
  badge.dataset.armed = String(rehearsal.armed);
  const toggle = $('[data-testid="rehearsal-toggle"]');
  toggle.textContent = rehearsal.armed ? "Lift the failure" : "Switch the failure on";
  toggle.dataset.armed = String(rehearsal.armed);
}

function setupRehearsal() {
  const toggle = $('[data-testid="rehearsal-toggle"]');
  toggle.addEventListener("click", async () => {
    toggle.disabled = true;
    try {
      await post("/api/rehearsal", { armed: toggle.dataset.armed !== "true" });
      await refresh();
    } catch (err) {
      alert(`The failure could not be switched: ${err.message}`);
    } finally {
      toggle.disabled = false;
    }
  });
}

// ---- everything -------------------------------------------------------------------------------

function render(data) {
  page.data = data;
  if (!data.users.some((u) => u.id === page.me)) page.me = data.users[0]?.id ?? "";
  renderUsers(data.users);
  document.body.dataset.me = page.me;
  if (data.slack.me !== page.me) {
    // An answer for the person shown before the switch: ask again for the current one.
    void refresh();
    return;
  }
  renderTimeline(data.slack.timeline);
  renderDirectMessages(data.slack.directMessages);
  renderModal(data.slack.modal);
  renderCluster(data);
  renderRehearsal(data.rehearsal);
}

function setupComposer() {
  const form = $('[data-testid="command-form"]');
  const input = $('[data-testid="command-input"]');
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    page.stickToBottom = true;
    try {
      await post("/api/command", { text });
    } catch (err) {
      alert(`The command did not reach restorebot: ${err.message}`);
    }
  });
  for (const chip of form.querySelectorAll(".chip")) {
    chip.addEventListener("click", () => {
      input.value = chip.dataset.command;
      input.focus();
    });
  }
}

setupComposer();
setupModal();
setupRehearsal();
connect();
void refresh();
// Ages ("3 min ago") and times move on even when nothing else happens.
setInterval(() => void refresh(), 30_000);
