import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { App, HTTPReceiver, LogLevel } from "@slack/bolt";
import type { AppDeps } from "../app-deps.js";
import type { Env } from "../config/env.js";
import { type HealthRoute, type HealthServer, startHealthServer } from "../http/health.js";
import { describeListenError } from "../http/listen.js";
import { boltLogger } from "./bolt-logger.js";
import { registerCommands } from "./listeners/commands/index.js";

type BoltApp = App;

/** Listener registrations beyond the core commands (actions, views), added by feature modules. */
export type ListenerRegistration = (app: BoltApp, deps: AppDeps) => void;

export interface SlackBot {
  app: BoltApp;
  /** The port the HTTP server listens on (events in HTTP mode; health only in Socket Mode). */
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts the Slack side: HTTP mode (Bolt's `/slack/events`, signed requests verified by Bolt,
 * stale timestamps refused) with the health routes alongside, or Socket Mode when
 * SLACK_APP_TOKEN is set, with the health routes on a small server of their own.
 */
export async function startSlackBot(options: {
  env: Env;
  deps: AppDeps;
  routes: HealthRoute[];
  registrations?: ListenerRegistration[];
  /** Interface to listen on; every interface when not given (a container's port is published). */
  host?: string;
}): Promise<SlackBot> {
  const { env, deps, routes } = options;
  const logger = boltLogger(deps.logger);
  const clientOptions = { slackApiUrl: env.SLACK_API_URL, logLevel: LogLevel.WARN };
  let app: BoltApp;
  if (env.socketMode) {
    app = new App({
      token: env.SLACK_BOT_TOKEN,
      appToken: env.SLACK_APP_TOKEN,
      socketMode: true,
      logger,
      clientOptions,
    });
  } else {
    const receiver = new HTTPReceiver({
      signingSecret: env.SLACK_SIGNING_SECRET as string,
      endpoints: "/slack/events",
      customRoutes: routes,
      logger,
    });
    app = new App({ token: env.SLACK_BOT_TOKEN, receiver, logger, clientOptions });
  }
  app.error(async (error) => {
    deps.logger.error(
      { err: error.message, code: (error as { code?: string }).code },
      "unhandled error in a Slack listener",
    );
  });
  registerCommands(app, deps);
  for (const register of options.registrations ?? []) register(app, deps);

  let port: number;
  let healthServer: HealthServer | undefined;
  if (env.socketMode) {
    // Bound before connecting to Slack, so a port conflict stops the start with nothing open.
    healthServer = await startHealthServer(routes, env.PORT, "PORT", options.host);
    try {
      await app.start();
    } catch (err) {
      await healthServer.close();
      throw err;
    }
    port = healthServer.port;
  } else {
    try {
      const server = (await app.start(
        options.host === undefined ? env.PORT : { port: env.PORT, host: options.host },
      )) as Server;
      port = (server.address() as AddressInfo).port;
    } catch (err) {
      // Bolt rejects with the server's own bind error (EADDRINUSE, EACCES…).
      if ((err as NodeJS.ErrnoException).syscall === "listen")
        throw describeListenError(err, env.PORT, "PORT");
      throw err;
    }
  }
  return {
    app,
    port,
    async stop() {
      await app.stop();
      await healthServer?.close();
    },
  };
}
