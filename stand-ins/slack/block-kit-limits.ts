/**
 * A subset of the Block Kit limits Slack enforces, so code that overflows them fails in tests the
 * way it would fail in production (`invalid_blocks`, `invalid_arguments`) instead of passing here
 * and breaking on the real Web API. Limits from the Block Kit reference
 * (docs.slack.dev/reference/block-kit). Messages follow Slack's wording:
 * `<problem> [json-pointer:<path>]`.
 */

/** A Block Kit block as stored and returned by the fake. */
export interface SlackBlock {
  type: string;
  block_id?: string;
  [key: string]: unknown;
}

export const MESSAGE_MAX_BLOCKS = 50;
export const VIEW_MAX_BLOCKS = 100;
/** chat.postMessage refuses longer text with `msg_too_long`. */
export const MESSAGE_MAX_TEXT = 40_000;

const SECTION_TEXT_MAX = 3000;
const SECTION_FIELDS_MAX = 10;
const SECTION_FIELD_TEXT_MAX = 2000;
const HEADER_TEXT_MAX = 150;
const ACTIONS_ELEMENTS_MAX = 25;
const CONTEXT_ELEMENTS_MAX = 10;
const BUTTON_TEXT_MAX = 75;
const BUTTON_VALUE_MAX = 2000;
const ACTION_ID_MAX = 255;
const BLOCK_ID_MAX = 255;
const VIEW_TITLE_MAX = 24;
const VIEW_CALLBACK_ID_MAX = 255;
const VIEW_PRIVATE_METADATA_MAX = 3000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkTextObject(
  value: unknown,
  pointer: string,
  max: number,
  problems: string[],
  plainOnly = false,
): void {
  if (!isRecord(value)) {
    problems.push(`must provide an object [json-pointer:${pointer}]`);
    return;
  }
  const allowed = plainOnly ? ["plain_text"] : ["plain_text", "mrkdwn"];
  if (typeof value.type !== "string" || !allowed.includes(value.type)) {
    problems.push(`must be one of: ${allowed.join(", ")} [json-pointer:${pointer}/type]`);
  }
  if (typeof value.text !== "string") {
    problems.push(`missing required field: text [json-pointer:${pointer}]`);
  } else if (value.text.length === 0) {
    problems.push(`must be more than 0 characters [json-pointer:${pointer}/text]`);
  } else if (value.text.length > max) {
    problems.push(`must be less than ${max + 1} characters [json-pointer:${pointer}/text]`);
  }
}

function checkInteractiveElement(
  element: Record<string, unknown>,
  pointer: string,
  actionIds: Set<string>,
  problems: string[],
): void {
  if (typeof element.action_id === "string") {
    if (element.action_id.length > ACTION_ID_MAX) {
      problems.push(
        `must be less than ${ACTION_ID_MAX + 1} characters [json-pointer:${pointer}/action_id]`,
      );
    }
    // Slack wants action_ids unique within their block; duplicates make clicks ambiguous.
    if (actionIds.has(element.action_id)) {
      problems.push(`duplicate action_id ${element.action_id} [json-pointer:${pointer}/action_id]`);
    }
    actionIds.add(element.action_id);
  }
  if (element.type === "button") {
    checkTextObject(element.text, `${pointer}/text`, BUTTON_TEXT_MAX, problems, true);
    if (typeof element.value === "string" && element.value.length > BUTTON_VALUE_MAX) {
      problems.push(
        `must be less than ${BUTTON_VALUE_MAX + 1} characters [json-pointer:${pointer}/value]`,
      );
    }
    if (element.style !== undefined && element.style !== "primary" && element.style !== "danger") {
      problems.push(`must be one of: primary, danger [json-pointer:${pointer}/style]`);
    }
  }
}

function checkBlock(
  block: unknown,
  pointer: string,
  blockIds: Set<string>,
  problems: string[],
): void {
  const actionIds = new Set<string>();
  if (!isRecord(block)) {
    problems.push(`must provide an object [json-pointer:${pointer}]`);
    return;
  }
  if (typeof block.type !== "string") {
    problems.push(`missing required field: type [json-pointer:${pointer}]`);
    return;
  }
  if (typeof block.block_id === "string") {
    if (block.block_id.length > BLOCK_ID_MAX) {
      problems.push(
        `must be less than ${BLOCK_ID_MAX + 1} characters [json-pointer:${pointer}/block_id]`,
      );
    }
    if (blockIds.has(block.block_id)) {
      problems.push(`duplicate block_id ${block.block_id} [json-pointer:${pointer}/block_id]`);
    }
    blockIds.add(block.block_id);
  }
  switch (block.type) {
    case "section": {
      if (block.text === undefined && block.fields === undefined) {
        problems.push(`must provide either text or fields [json-pointer:${pointer}]`);
      }
      if (block.text !== undefined) {
        checkTextObject(block.text, `${pointer}/text`, SECTION_TEXT_MAX, problems);
      }
      if (block.fields !== undefined) {
        if (!Array.isArray(block.fields)) {
          problems.push(`must be an array [json-pointer:${pointer}/fields]`);
        } else {
          if (block.fields.length > SECTION_FIELDS_MAX) {
            problems.push(
              `no more than ${SECTION_FIELDS_MAX} items allowed [json-pointer:${pointer}/fields]`,
            );
          }
          block.fields.forEach((field, i) => {
            checkTextObject(field, `${pointer}/fields/${i}`, SECTION_FIELD_TEXT_MAX, problems);
          });
        }
      }
      if (isRecord(block.accessory)) {
        checkInteractiveElement(block.accessory, `${pointer}/accessory`, actionIds, problems);
      }
      break;
    }
    case "header":
      checkTextObject(block.text, `${pointer}/text`, HEADER_TEXT_MAX, problems, true);
      break;
    case "actions":
    case "context": {
      const max = block.type === "actions" ? ACTIONS_ELEMENTS_MAX : CONTEXT_ELEMENTS_MAX;
      if (!Array.isArray(block.elements) || block.elements.length === 0) {
        problems.push(`must provide a non-empty array [json-pointer:${pointer}/elements]`);
        break;
      }
      if (block.elements.length > max) {
        problems.push(`no more than ${max} items allowed [json-pointer:${pointer}/elements]`);
      }
      if (block.type === "actions") {
        block.elements.forEach((element, i) => {
          if (isRecord(element)) {
            checkInteractiveElement(element, `${pointer}/elements/${i}`, actionIds, problems);
          }
        });
      }
      break;
    }
    case "input":
      if (isRecord(block.element)) {
        checkInteractiveElement(block.element, `${pointer}/element`, actionIds, problems);
      }
      checkTextObject(block.label, `${pointer}/label`, 2000, problems, true);
      break;
    default:
      // Other block types (divider, image, rich_text, …) are accepted as they are.
      break;
  }
}

/**
 * Problems with a `blocks` argument, in Slack's wording; empty when Slack would accept it.
 * `pointer` is the JSON pointer of the array (`/blocks`, `/view/blocks`).
 */
export function blockProblems(blocks: unknown, maxBlocks: number, pointer = "/blocks"): string[] {
  if (!Array.isArray(blocks)) return [`must be an array [json-pointer:${pointer}]`];
  const problems: string[] = [];
  if (blocks.length > maxBlocks) {
    problems.push(`no more than ${maxBlocks} items allowed [json-pointer:${pointer}]`);
  }
  const blockIds = new Set<string>();
  blocks.forEach((block, i) => {
    checkBlock(block, `${pointer}/${i}`, blockIds, problems);
  });
  return problems;
}

/** Problems with a `view` argument of views.open / update / push / publish. */
export function viewProblems(view: unknown): string[] {
  if (!isRecord(view)) return ["must provide an object [json-pointer:/view]"];
  const problems: string[] = [];
  if (view.type !== "modal" && view.type !== "home") {
    problems.push("must be one of: modal, home [json-pointer:/view/type]");
  }
  if (view.type === "modal") {
    checkTextObject(view.title, "/view/title", VIEW_TITLE_MAX, problems, true);
    for (const key of ["submit", "close"] as const) {
      if (view[key] !== undefined) {
        checkTextObject(view[key], `/view/${key}`, VIEW_TITLE_MAX, problems, true);
      }
    }
  }
  if (typeof view.callback_id === "string" && view.callback_id.length > VIEW_CALLBACK_ID_MAX) {
    problems.push(
      `must be less than ${VIEW_CALLBACK_ID_MAX + 1} characters [json-pointer:/view/callback_id]`,
    );
  }
  if (
    typeof view.private_metadata === "string" &&
    view.private_metadata.length > VIEW_PRIVATE_METADATA_MAX
  ) {
    problems.push(
      `must be less than ${VIEW_PRIVATE_METADATA_MAX + 1} characters [json-pointer:/view/private_metadata]`,
    );
  }
  problems.push(...blockProblems(view.blocks, VIEW_MAX_BLOCKS, "/view/blocks"));
  return problems;
}
