/**
 * The Slack types the rest of restorebot may name: the Web API client (a port its callers
 * narrow with `Pick`, so tests pass the Slack stand-in's client or a small fake) and Block Kit
 * shapes. Only src/slack/ and the entry points import Slack's SDK packages themselves.
 */
export type { types } from "@slack/bolt";
export type {
  ChatPostMessageArguments,
  ChatUpdateArguments,
  WebClient,
} from "@slack/web-api";
