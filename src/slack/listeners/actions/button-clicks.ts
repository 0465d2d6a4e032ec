import type {
  AllMiddlewareArgs,
  BlockAction,
  ButtonAction,
  SlackActionMiddlewareArgs,
} from "@slack/bolt";
import type { AppDeps } from "../../../app-deps.js";
import { asCodedError } from "../../../errors.js";

export type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs;

/**
 * An ephemeral answer to the clicker, in the channel where they clicked. The response URL
 * can fail (expired, or a message it cannot reach), so it falls back to a plain ephemeral post.
 */
export async function tellClicker(args: ButtonArgs, deps: AppDeps, text: string): Promise<void> {
  try {
    await args.respond({ response_type: "ephemeral", replace_original: false, text });
  } catch {
    const channel = args.body.channel?.id;
    if (!channel) return;
    await args.client.chat
      .postEphemeral({ channel, user: args.body.user.id, text })
      .catch((err: unknown) =>
        deps.logger.warn({ err: asCodedError(err).message }, "could not answer a button click"),
      );
  }
}
