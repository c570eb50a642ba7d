//! Reviews and claims as the order's customer and customer service meet them: what is
//! recorded, and how a claim's refund or replacement goes through the order's own refunds and
//! exchanges.

use order_events::ids::{ClaimId, RefundId, ReturnId};
use order_events::order::*;
use order_events::testkit::samples::{amount, history_to, line_quantity, order_id, MUG};
use order_events::testkit::{at, given, Given};
use order_events::{Actor, ActorKind, Rule};

const DAY: i64 = 1440;

fn customer() -> Actor {
    Actor::new(ActorKind::Customer, "cust-42")
}

fn staff() -> Actor {
    Actor::new(ActorKind::Staff, "cs-agent")
}

/// The sample order delivered at minute 1440, with `more` after.
fn delivered_with(more: Vec<OrderEvent>) -> Given<Order> {
    given([history_to(OrderStatus::Delivered), more].concat())
}

fn claim_opened(kind: ClaimKind, minute: i64) -> OrderEvent {
    ClaimOpened {
        claim_id: ClaimId::from("C1"),
        kind,
        text: "broken".to_owned(),
        opened_at: at(minute),
    }
    .into()
}

fn resolve(resolution: ClaimResolution) -> ResolveClaim {
    ResolveClaim {
        order_id: order_id(),
        claim_id: ClaimId::from("C1"),
        resolution,
    }
}

#[test]
fn the_customer_reviews_once_and_revises_within_the_window() {
    let order = delivered_with(vec![])
        .by(customer())
        .at_minute(2 * DAY)
        .when(ReviewOrder {
            order_id: order_id(),
            rating: 1,
            text: "arrived late".to_owned(),
        })
        .then_events([ReviewRecorded {
            rating: 1,
            text: "arrived late".to_owned(),
            reviewed_at: at(2 * DAY),
        }
        .into()]);
    let reviewed = vec![ReviewRecorded {
        rating: 1,
        text: "arrived late".to_owned(),
        reviewed_at: at(2 * DAY),
    }
    .into()];
    assert_eq!(order.review.as_ref().map(|r| r.rating), Some(1));
    // Thirty days later it may still be revised; a day after that it may not.
    let revise = || ReviseReview {
        order_id: order_id(),
        rating: 4,
        text: "support made it right".to_owned(),
    };
    let revised = delivered_with(reviewed.clone())
        .by(customer())
        .at_minute(32 * DAY)
        .when(revise())
        .then_accepts();
    let review = revised.review.unwrap();
    assert_eq!((review.rating, review.revised_at), (4, Some(at(32 * DAY))));
    delivered_with(reviewed)
        .by(customer())
        .at_minute(33 * DAY)
        .when(revise())
        .then_rejects(Rule::ReviewRevisionWindowClosed);
}

#[test]
fn a_claim_refund_goes_through_the_orders_refunds() {
    let events = delivered_with(vec![claim_opened(ClaimKind::Defective, 2 * DAY)])
        .by(staff())
        .at_minute(3 * DAY)
        .when(resolve(ClaimResolution::Refund(ClaimRefund {
            refund_id: RefundId::from("RF-C1"),
            amount: amount("9.50"),
            psp_reference: "psp-c1".to_owned(),
        })))
        .then_events([
            ClaimResolved {
                claim_id: ClaimId::from("C1"),
                resolution: ClaimResolution::Refund(ClaimRefund {
                    refund_id: RefundId::from("RF-C1"),
                    amount: amount("9.50"),
                    psp_reference: "psp-c1".to_owned(),
                }),
                resolved_at: at(3 * DAY),
            }
            .into(),
            RefundIssued {
                refund_id: RefundId::from("RF-C1"),
                amount: amount("9.50"),
                reason: RefundReason::Claim,
                psp_reference: "psp-c1".to_owned(),
            }
            .into(),
        ]);
    assert_eq!(events.refunded(), amount("9.50"));
    assert!(events.claims.iter().all(|claim| !claim.is_open()));
    // A refund beyond what was captured is refused by the refunds' own rule.
    delivered_with(vec![claim_opened(ClaimKind::Defective, 2 * DAY)])
        .by(staff())
        .when(resolve(ClaimResolution::Refund(ClaimRefund {
            refund_id: RefundId::from("RF-C1"),
            amount: amount("100.00"),
            psp_reference: "psp-c1".to_owned(),
        })))
        .then_rejects(Rule::RefundExceedsCaptured);
}

#[test]
fn a_replacement_is_an_exchange_even_after_the_return_window() {
    // The return window (14 days) closed; the claim, opened within its own window, still
    // gets its replacement.
    let order = delivered_with(vec![claim_opened(ClaimKind::Damaged, 10 * DAY)])
        .by(staff())
        .at_minute(30 * DAY)
        .when(resolve(ClaimResolution::Replacement(ClaimReplacement {
            return_id: ReturnId::from("X-C1"),
            lines: vec![line_quantity(MUG, 1)],
        })))
        .then_accepts();
    assert_eq!(order.status, OrderStatus::ReturnRequested);
    let case = order.return_case(&ReturnId::from("X-C1")).unwrap();
    assert!(case.exchange);
}

#[test]
fn staff_or_a_service_may_open_a_claim_for_the_customer_but_not_another_customer() {
    let claim = || OpenClaim {
        order_id: order_id(),
        claim_id: ClaimId::from("C1"),
        kind: ClaimKind::Defective,
        text: String::new(),
    };
    for actor in [staff(), Actor::new(ActorKind::Service, "marketplace")] {
        delivered_with(vec![])
            .by(actor)
            .at_minute(2 * DAY)
            .when(claim())
            .then_accepts();
    }
    delivered_with(vec![])
        .by(Actor::new(ActorKind::Customer, "cust-7"))
        .at_minute(2 * DAY)
        .when(claim())
        .then_rejects(Rule::NotTheOrdersCustomer);
}

#[test]
fn a_retired_feedback_record_reads_as_an_undated_review_and_a_closed_claim() {
    let feedback = FeedbackRecorded {
        rating: 1,
        comment: "broken".to_owned(),
        claim: Some(ClaimKind::Defective),
    };
    let history = vec![feedback.into()];
    let order = delivered_with(history.clone()).state().clone();
    let review = order.review.as_ref().unwrap();
    assert_eq!((review.rating, review.reviewed_at), (1, None));
    assert_eq!(order.claims.len(), 1);
    assert!(!order.claims[0].is_open());
    let then = |command: OrderCommand| {
        delivered_with(history.clone())
            .by(customer())
            .at_minute(2 * DAY)
            .when(command)
    };
    then(
        ReviseReview {
            order_id: order_id(),
            rating: 3,
            text: String::new(),
        }
        .into(),
    )
    .then_rejects(Rule::ReviewRevisionWindowClosed);
    then(
        ReviewOrder {
            order_id: order_id(),
            rating: 3,
            text: String::new(),
        }
        .into(),
    )
    .then_rejects(Rule::ReviewAlreadyRecorded);
    // Its claim cannot be resolved through ResolveClaim, so a new one may be opened.
    then(
        OpenClaim {
            order_id: order_id(),
            claim_id: ClaimId::from("C1"),
            kind: ClaimKind::Defective,
            text: String::new(),
        }
        .into(),
    )
    .then_accepts();
}
