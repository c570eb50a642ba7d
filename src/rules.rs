//! `ledger rules`: the business rules and the order state machine, as the code has them.

use std::io::Write;

use order_events::order::status::TRANSITIONS;
use order_events::order::OrderStatus;
use order_events::Rule;
use serde_json::json;

/// Prints the rule table and the transition table for a person.
pub fn write_text(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "Rules ({}): a rejected command names one of these codes.\n",
        Rule::ALL.len()
    )?;
    let width = Rule::ALL.iter().map(|r| r.code().len()).max().unwrap_or(0);
    for rule in Rule::ALL {
        writeln!(out, "  {:<width$}  {}", rule.code(), rule.description())?;
    }
    writeln!(
        out,
        "\nOrder transitions: each command and the statuses it is legal in.\n"
    )?;
    let width = TRANSITIONS.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    for (command, from) in TRANSITIONS {
        let from: Vec<&str> = from.iter().map(|status| status.code()).collect();
        writeln!(out, "  {command:<width$}  {}", from.join(", "))?;
    }
    let statuses: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.code()).collect();
    writeln!(out, "\nOrder statuses: {}", statuses.join(", "))
}

/// The same tables as one JSON document.
pub fn write_json(out: &mut impl Write) -> std::io::Result<()> {
    let rules: Vec<_> = Rule::ALL
        .iter()
        .map(|rule| json!({"code": rule.code(), "description": rule.description()}))
        .collect();
    let transitions: Vec<_> = TRANSITIONS
        .iter()
        .map(|(command, from)| json!({"command": command, "legal_in": from}))
        .collect();
    let document =
        json!({"rules": rules, "transitions": transitions, "statuses": OrderStatus::ALL});
    writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&document).expect("tables serialize")
    )
}
