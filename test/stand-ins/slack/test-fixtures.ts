/** Block Kit shared by the stand-in tests: a card with Approve / Reject buttons. */
export const approvalCard = [
  { type: "section", text: { type: "mrkdwn", text: "*Restore prod* to 2024-08-12T14:00Z" } },
  {
    type: "actions",
    block_id: "decision",
    elements: [
      {
        type: "button",
        action_id: "approve",
        text: { type: "plain_text", text: "Approve" },
        style: "primary",
        value: "req-1",
      },
      {
        type: "button",
        action_id: "reject",
        text: { type: "plain_text", text: "Reject" },
        style: "danger",
        value: "req-1",
      },
    ],
  },
];
