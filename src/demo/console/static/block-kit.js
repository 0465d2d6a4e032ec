// Block Kit → DOM, for the blocks restorebot sends: header, section (text, fields, accessory),
// context, divider, actions (buttons with styles and confirmation dialogs), image, and input
// blocks in modals. Anything else is shown as a labelled placeholder rather than dropped, so a
// new block type is noticed.

import { escapeHtml, renderMrkdwn, renderPlain, renderText } from "./mrkdwn.js";

function el(tag, className, attributes = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  return node;
}

function html(tag, className, markup, attributes) {
  const node = el(tag, className, attributes);
  node.innerHTML = markup;
  return node;
}

/**
 * A button element. `ctx.onAction({ element, blockId, button })` is called on click; the
 * caller shows the confirmation dialog when the element has one.
 */
function renderButton(element, blockId, ctx) {
  const button = el("button", `bk-button${element.style ? ` ${element.style}` : ""}`, {
    type: "button",
    "data-testid": `button-${element.action_id}`,
    "data-action-id": element.action_id,
    "data-block-id": blockId,
    "data-value": element.value,
    "aria-haspopup": element.confirm ? "dialog" : undefined,
  });
  button.innerHTML = renderPlain(element.text);
  if (element.url) button.title = element.url;
  button.addEventListener("click", () => ctx.onAction?.({ element, blockId, button }));
  return button;
}

function renderElement(element, blockId, ctx) {
  switch (element?.type) {
    case "button":
      return renderButton(element, blockId, ctx);
    case "image":
      return html("span", "bk-image", `🖼 ${escapeHtml(element.alt_text ?? "image")}`, {
        role: "img",
        "aria-label": element.alt_text ?? "image",
      });
    case "mrkdwn":
    case "plain_text":
      return html("span", "bk-text", renderText(element, ctx));
    default:
      return html("span", "bk-unsupported", `[${escapeHtml(element?.type ?? "element")}]`);
  }
}

function renderInput(block, ctx) {
  const element = block.element ?? {};
  const id = `input-${block.block_id}-${element.action_id}`;
  const wrapper = el("div", "bk-input", { "data-block-id": block.block_id });
  const label = html("label", "bk-input-label", renderPlain(block.label), { for: id });
  if (block.optional) {
    const optional = el("span", "optional");
    optional.textContent = " (optional)";
    label.append(optional);
  }
  wrapper.append(label);
  if (element.type !== "plain_text_input") {
    wrapper.append(html("p", "bk-unsupported", `[${escapeHtml(element.type ?? "input")}]`));
    return wrapper;
  }
  const field = el(element.multiline ? "textarea" : "input", "bk-field", {
    id,
    name: id,
    "data-testid": `modal-input-${block.block_id}`,
    "data-block-id": block.block_id,
    "data-action-id": element.action_id,
    placeholder: element.placeholder?.text,
    maxlength: element.max_length,
    minlength: element.min_length,
    rows: element.multiline ? 4 : undefined,
    type: element.multiline ? undefined : "text",
    "aria-describedby": `${id}-hint ${id}-error`,
  });
  if (element.initial_value) field.value = element.initial_value;
  wrapper.append(field);
  if (block.hint)
    wrapper.append(html("p", "bk-hint", renderPlain(block.hint), { id: `${id}-hint` }));
  const error = el("p", "bk-error", {
    id: `${id}-error`,
    role: "alert",
    "data-testid": `modal-error-${block.block_id}`,
  });
  error.textContent = ctx.errors?.[block.block_id] ?? "";
  error.hidden = !error.textContent;
  wrapper.append(error);
  return wrapper;
}

function renderBlock(block, ctx) {
  const blockId = block.block_id ?? "";
  switch (block.type) {
    case "header":
      return html("h3", "bk-header", renderPlain(block.text));
    case "divider":
      return el("hr", "bk-divider");
    case "section": {
      const section = el("div", "bk-section", { "data-block-id": blockId });
      const body = el("div", "bk-section-body");
      if (block.text) body.append(html("div", "bk-text", renderText(block.text, ctx)));
      if (Array.isArray(block.fields) && block.fields.length) {
        const fields = el("div", "bk-fields");
        for (const field of block.fields)
          fields.append(html("div", "bk-field-text", renderText(field, ctx)));
        body.append(fields);
      }
      section.append(body);
      if (block.accessory) {
        const accessory = el("div", "bk-accessory");
        accessory.append(renderElement(block.accessory, blockId, ctx));
        section.append(accessory);
      }
      return section;
    }
    case "context": {
      const context = el("div", "bk-context");
      for (const element of block.elements ?? [])
        context.append(renderElement(element, blockId, ctx));
      return context;
    }
    case "actions": {
      const actions = el("div", "bk-actions", { "data-block-id": blockId, role: "group" });
      for (const element of block.elements ?? [])
        actions.append(renderElement(element, blockId, ctx));
      return actions;
    }
    case "image":
      return html("figure", "bk-image", escapeHtml(block.alt_text ?? "image"));
    case "input":
      return renderInput(block, ctx);
    default:
      return html("div", "bk-unsupported", `[unsupported block: ${escapeHtml(block.type ?? "?")}]`);
  }
}

/** A message's content: its blocks when it has any, else its text as mrkdwn. */
export function renderMessageContent(message, ctx) {
  const container = el("div", "bk-blocks");
  if (Array.isArray(message.blocks) && message.blocks.length) {
    for (const block of message.blocks) container.append(renderBlock(block, ctx));
  } else {
    container.append(html("div", "bk-text", renderMrkdwn(message.text ?? "", ctx)));
  }
  return container;
}

export function renderBlocks(blocks, ctx) {
  const container = el("div", "bk-blocks");
  for (const block of blocks ?? []) container.append(renderBlock(block, ctx));
  return container;
}
