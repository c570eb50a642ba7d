//! Who may do what: every route against every role, and the per-token request rate.

use super::*;

/// The token of each role in the access test: the role's name.
fn token_of(role: Role) -> String {
    format!("token-of-{role:?}")
}

/// One request of the route × role matrix and the roles it admits (admin always).
struct Probe {
    method: &'static str,
    path: String,
    body: Option<(&'static str, String)>,
    admits: &'static [Role],
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_admits_exactly_its_roles_and_refuses_the_rest() {
    use Role::*;
    let mut auth = Auth::closed();
    for role in Role::ALL {
        auth = auth.with_token(&token_of(role), &format!("{role:?}"), &[role]);
    }
    let running = start_with(auth).await;
    const READ: &[Role] = &[Analyst, Auditor, Finance];
    let mut probes: Vec<Probe> = [
        "/v1/orders",
        &format!("/v1/orders/{ORDER}"),
        &format!("/v1/orders/{ORDER}/settlement"),
        "/v1/exceptions",
        "/v1/inventory",
        "/v1/inventory/CAP-BLK/BER-1",
        "/v1/balances",
        "/v1/balances/merchants",
        "/v1/trial-balance",
        "/v1/reconciliations",
        "/v1/reports",
        "/v1/notifications",
        "/v1/notifications/failed",
        "/v1/projections/status",
    ]
    .into_iter()
    .map(|path| Probe {
        method: "GET",
        path: path.to_owned(),
        body: None,
        admits: READ,
    })
    .collect();
    let receive = json!({"item": {"sku": "CAP-BLK", "warehouse": "BER-1"}, "quantity": 5,
                         "reference": "PO-9"});
    let payout = json!({"merchant_id": "merchant-7", "currency": "EUR", "amount": "1.00",
                        "payout_reference": "PO-X"});
    let csv = "psp_reference,type,gross,fee,net,currency,date\n".to_owned();
    probes.extend([
        Probe {
            method: "GET",
            path: "/v1/openapi.json".into(),
            body: None,
            admits: &[Service, Analyst, Auditor, Finance],
        },
        Probe {
            method: "GET",
            path: "/metrics".into(),
            body: None,
            admits: &[Analyst],
        },
        Probe {
            method: "GET",
            path: "/v1/log/layout".into(),
            body: None,
            admits: &[Auditor],
        },
        Probe {
            method: "GET",
            path: "/v1/log/events/0".into(),
            body: None,
            admits: &[Auditor],
        },
        Probe {
            method: "GET",
            path: format!("/v1/log/proofs/{}", uuid::Uuid::nil()),
            body: None,
            admits: &[Auditor],
        },
        Probe {
            method: "POST",
            path: "/v1/reconciliations?record=false".into(),
            body: Some(("text/csv", csv)),
            admits: &[Finance],
        },
        Probe {
            method: "POST",
            path: "/v1/projections/rebuild".into(),
            body: None,
            admits: &[],
        },
        Probe {
            method: "POST",
            path: format!("/v1/notifications/{}/retry", uuid::Uuid::nil()),
            body: None,
            admits: &[],
        },
        // Commands: a service's, finance's, and one as the system actor.
        Probe {
            method: "POST",
            path: "/v1/commands".into(),
            body: Some((
                "application/json",
                command_line(1, "service:wms", "ReceiveStock", receive),
            )),
            admits: &[Service],
        },
        Probe {
            method: "POST",
            path: "/v1/commands".into(),
            body: Some((
                "application/json",
                command_line(2, "staff:fin-ann", "PayoutMerchant", payout),
            )),
            admits: &[Finance],
        },
        Probe {
            method: "POST",
            path: "/v1/commands".into(),
            body: Some((
                "application/json",
                command_line(
                    3,
                    "system:ledger",
                    "ExpireOrder",
                    json!({"order_id": ORDER}),
                ),
            )),
            admits: &[],
        },
    ]);
    let address = running.address.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let agent = running::client(Duration::from_secs(30), None);
        let send = |probe: &Probe, authorization: Option<String>| -> (u16, Value) {
            let url = format!("http://{address}{}", probe.path);
            let mut response = match probe.method {
                "GET" => {
                    let mut request = agent.get(&url);
                    if let Some(value) = &authorization {
                        request = request.header("authorization", value);
                    }
                    request.call().unwrap()
                }
                _ => {
                    let mut request = agent.post(&url);
                    if let Some(value) = &authorization {
                        request = request.header("authorization", value);
                    }
                    match &probe.body {
                        Some((content_type, body)) => {
                            request.header("content-type", *content_type).send(body)
                        }
                        None => request.send_empty(),
                    }
                    .unwrap()
                }
            };
            let status = response.status().as_u16();
            let body = response
                .body_mut()
                .read_to_string()
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or(Value::Null);
            (status, body)
        };
        let mut checked = 0;
        for probe in &probes {
            let what = format!("{} {}", probe.method, probe.path);
            for authorization in [None, Some("Bearer not-a-token".to_owned())] {
                let (status, body) = send(probe, authorization.clone());
                assert_eq!(status, 401, "{what} with {authorization:?}: {body}");
                assert_eq!(body["error"], "unauthorized", "{what}: {body}");
                checked += 1;
            }
            for role in Role::ALL {
                let (status, body) = send(probe, Some(format!("Bearer {}", token_of(role))));
                if role == Admin || probe.admits.contains(&role) {
                    assert!(
                        status != 401 && status != 403,
                        "{what} as {role:?}: {status} {body}"
                    );
                } else {
                    assert_eq!(status, 403, "{what} as {role:?}: {body}");
                }
                checked += 1;
            }
        }
        // Health is for probes: no token needed.
        let (status, _) = send(
            &Probe {
                method: "GET",
                path: "/v1/health".into(),
                body: None,
                admits: &[],
            },
            None,
        );
        assert_eq!(status, 200);
        checked
    })
    .await
    .unwrap();
    // 25 requests, each without a token, with an unknown one and as each of the 5 roles.
    assert_eq!(checked, 25 * 7);
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_request_rate_gets_429_and_then_its_budget_back() {
    let token = "rate-limited-analyst";
    let running = start_with(
        Auth::closed()
            .with_token(token, "dashboard", &[Role::Analyst])
            .with_rate_limit(5),
    )
    .await;
    let address = running.address.clone();
    tokio::task::spawn_blocking(move || {
        let agent = running::client(Duration::from_secs(30), Some(token.to_owned()));
        let url = format!("http://{address}/v1/trial-balance");
        let mut statuses = Vec::new();
        let mut refused = None;
        for _ in 0..12 {
            let mut response = agent.get(&url).call().unwrap();
            let status = response.status().as_u16();
            if status == 429 && refused.is_none() {
                let retry = response.headers().get("retry-after").cloned();
                let body: Value = response.body_mut().read_json().unwrap();
                refused = Some((retry, body));
            }
            statuses.push(status);
        }
        // A burst of a second's worth goes through, then the budget is spent.
        assert!(statuses[..5].iter().all(|&s| s == 200), "{statuses:?}");
        assert!(statuses[5..].contains(&429), "{statuses:?}");
        let (retry, body) = refused.unwrap();
        assert_eq!(body["error"], "rate_limited", "{body}");
        // The wait is computed from the budget: at 5 a second, a request's worth refills
        // within 200 ms; the header, in whole seconds, rounds up.
        let wait = body["retry_after_ms"].as_u64().expect("retry_after_ms");
        assert!((1..=200).contains(&wait), "{body}");
        assert_eq!(retry.unwrap(), "1");
        // That waiting so long is enough is the bucket's unit test, on a clock moved by hand.
    })
    .await
    .unwrap();
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_answer_json_and_the_scheme_is_case_insensitive() {
    let running = start().await;
    let address = running.address.clone();
    tokio::task::spawn_blocking(move || {
        let agent = running::client(Duration::from_secs(30), None);
        let url = |path: &str| format!("http://{address}{path}");
        let admin = format!("bearer {ADMIN_TOKEN}");
        // The scheme's name in any case (RFC 9110, 11.1).
        for authorization in [admin.clone(), format!("BEARER {ADMIN_TOKEN}")] {
            let response = agent
                .get(url("/v1/trial-balance"))
                .header("authorization", &authorization)
                .call()
                .unwrap();
            assert_eq!(response.status().as_u16(), 200, "{authorization}");
        }
        let answer = |request: ureq::RequestBuilder<ureq::typestate::WithoutBody>| {
            let mut response = request.header("authorization", &admin).call().unwrap();
            let allow = response.headers().get("allow").cloned();
            let body: Value = response.body_mut().read_json().unwrap();
            (response.status().as_u16(), allow, body)
        };
        let (status, _, body) = answer(agent.get(url("/v1/no-such-route")));
        assert_eq!(
            (status, &body["error"]),
            (404, &json!("not_found")),
            "{body}"
        );
        assert!(body["reason"]
            .as_str()
            .unwrap()
            .contains("/v1/no-such-route"));
        for (request, allowed) in [
            (agent.delete(url("/v1/orders")), "GET,HEAD"),
            (agent.get(url("/v1/commands")), "POST"),
        ] {
            let (status, allow, body) = answer(request);
            assert_eq!(status, 405, "{body}");
            assert_eq!(body["error"], "method_not_allowed", "{body}");
            assert_eq!(allow.unwrap(), allowed);
        }
    })
    .await
    .unwrap();
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}
