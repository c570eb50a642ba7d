import json
import os
ORDER = "a9e4826c-e1fa-5275-b07b-412038fc6c3a"
n = [0]
def cid():
    n[0] += 1
    return "00000000-0000-4000-b000-%012x" % (0x900 + n[0])
def env(type_, payload, actor=("service", "hostile"), **extra):
    e = {"command_id": cid(), "type": type_, "actor": {"kind": actor[0], "id": actor[1]},
         "issued_at": "2026-11-22T10:00:00Z", "payload": payload}
    e.update(extra)
    return e
def receive(**p):
    base = {"item": {"sku": "CAP-BLK", "warehouse": "BER-1"}, "quantity": 5, "reference": "PO-H"}
    base.update(p); return base
addr = {"recipient": "Ada", "phone": "+49 40 555 0101", "street": "Main 1", "city": "Hamburg",
        "postal_code": "20354", "country": "DE"}
def place(ref, **p):
    base = {"channel": "web", "external_reference": ref, "customer_id": "c-1", "merchant_id": "merchant-7",
            "currency": "EUR", "lines": [{"sku": "CAP-BLK", "quantity": 1, "unit_price": "14.50"}],
            "shipping_fee": "4.90", "discounts": [], "shipping_address": dict(addr)}
    base.update(p); return base
def capture(**p):
    base = {"order_id": ORDER, "payment_id": "pay-h", "method": "card", "amount": "1.00", "currency": "EUR", "psp_reference": "psp-h"}
    base.update(p); return base
def refund(**p):
    base = {"order_id": ORDER, "refund_id": "rf-h", "amount": "1.00", "reason": "goodwill", "psp_reference": "psp-h-r"}
    base.update(p); return base

entries = []
def add(name, expect, input_=None, value=None, **more):
    if value is not None:
        input_ = json.dumps(value, separators=(",", ":"))
    e = {"name": name, "expect": expect, "input": input_}
    e.update(more)
    entries.append(e)

# Not JSON, or not a command.
add("empty body", "empty", "")
add("whitespace only", "invalid_json", "   \t ")
add("truncated JSON", "invalid_json", '{"command_id":"00000000-0000-4000-b000-000000000999","type":"ReceiveStock"')
add("a JSON array", "invalid_json", "[1,2,3]")
add("a bare string", "invalid_json", '"ReceiveStock"')
add("null", "invalid_json", "null")
add("deeply nested arrays", "invalid_json", None, generate="nested-arrays")
add("deeply nested objects", "invalid_json", None, generate="nested-objects")
add("invalid UTF-8 bytes", "invalid_json", None, input_hex="7b22636f6d6d616e645f6964223a22ff fe fd227d".replace(" ", ""))
add("control characters outside strings", "invalid_json", "{\u0001\u0002}")
add("oversized payload", "too_large", None, generate="oversized")
# Envelope fields.
add("duplicate keys", "invalid_json", '{"command_id":"%s","command_id":"%s","type":"ReceiveStock","actor":{"kind":"service","id":"h"},"issued_at":"2026-11-22T10:00:00Z","payload":%s}' % (cid(), cid(), json.dumps(receive())))
add("command id not a UUID", "invalid_json", value=dict(env("ReceiveStock", receive()), command_id="not-a-uuid"))
add("command id empty", "invalid_json", value=dict(env("ReceiveStock", receive()), command_id=""))
add("unknown command type", "unknown_type", value=env("LaunchRocket", {}))
add("empty command type", "unknown_type", value=env("", receive()))
add("future schema version", "unsupported_version", value=env("ReceiveStock", receive(), schema_version=99))
add("schema version zero", "unsupported_version", value=env("ReceiveStock", receive(), schema_version=0))
add("schema version negative", "invalid_json", value=env("ReceiveStock", receive(), schema_version=-1))
add("unknown envelope field", "invalid_json", value=env("ReceiveStock", receive(), priority="high"))
add("missing payload", "invalid_json", value={k: v for k, v in env("ReceiveStock", receive()).items() if k != "payload"})
add("payload null", "invalid_json", value=dict(env("ReceiveStock", receive()), payload=None))
add("unknown actor kind", "invalid_json", value=env("ReceiveStock", receive(), actor=("god", "zeus")))
add("issued_at not a time", "invalid_json", value=dict(env("ReceiveStock", receive()), issued_at="yesterday"))
# Payload types and numbers.
add("unknown payload field", "invalid_json", value=env("ReceiveStock", dict(receive(), colour="red")))
add("missing payload field", "invalid_json", value=env("ReceiveStock", {"item": {"sku": "CAP-BLK", "warehouse": "BER-1"}, "reference": "PO-H"}))
add("quantity as a string", "invalid_json", value=env("ReceiveStock", receive(quantity="5")))
add("negative quantity", "invalid_json", value=env("ReceiveStock", receive(quantity=-5)))
add("quantity beyond u32", "invalid_json", value=env("ReceiveStock", receive(quantity=99999999999999999999)))
add("fractional quantity", "invalid_json", value=env("ReceiveStock", receive(quantity=1.5)))
add("zero quantity", "quantity_must_be_positive", value=env("ReceiveStock", receive(quantity=0)))
add("quantity above the policy maximum", "quantity_exceeds_maximum", value=env("ReceiveStock", receive(quantity=20000)))
add("amount as a JSON number", "invalid_json", value=env("CapturePayment", capture(amount=1.0)))
add("amount in exponent notation", "invalid_json", value=env("CapturePayment", capture(amount="1e400")))
add("amount not a number", "invalid_json", value=env("CapturePayment", capture(amount="ten")))
add("too many decimals", "amount_precision_exceeds_currency", value=env("PlaceOrder", place("H-1", shipping_fee="4.901")))
add("huge amount", "amount_too_large", value=env("PlaceOrder", place("H-2", shipping_fee="10000000000000.00")))
add("negative price", "amount_must_not_be_negative", value=env("PlaceOrder", place("H-3", shipping_fee="-4.90")))
add("unknown currency", "invalid_json", value=env("PlaceOrder", place("H-4", currency="XXX")))
add("order id not a UUID", "invalid_json", value=env("CapturePayment", capture(order_id="order-1")))
# Text.
add("control characters in a field", "text_invalid", value=env("ReceiveStock", receive(reference="PO\u0007\u0000")))
add("field far too long", "field_too_long", value=env("PlaceOrder", place("H-5", customer_id="c" * 5000)))
add("empty required text", "required_field_missing", value=env("ReceiveStock", receive(reference="")))
add("SKU with spaces and symbols", "sku_format_invalid", value=env("ReceiveStock", receive(item={"sku": "DROP TABLE;--", "warehouse": "BER-1"})))
add("warehouse code lower case", "warehouse_format_invalid", value=env("ReceiveStock", receive(item={"sku": "CAP-BLK", "warehouse": "ber 1"})))
add("country not ISO", "country_code_invalid", value=env("PlaceOrder", place("H-6", shipping_address=dict(addr, country="Germany"))))
add("postal code of symbols", "postal_code_invalid", value=env("PlaceOrder", place("H-7", shipping_address=dict(addr, postal_code="%%%"))))
add("phone of letters", "phone_invalid", value=env("PlaceOrder", place("H-8", shipping_address=dict(addr, phone="call me"))))
# Orders.
add("order with no lines", "lines_required", value=env("PlaceOrder", place("H-9", lines=[])))
add("order with too many lines", "too_many_lines", value=env("PlaceOrder", place("H-10", lines=[{"sku": "SKU-%03d" % i, "quantity": 1, "unit_price": "1.00"} for i in range(101)])))
add("order with a line twice", "duplicate_line", value=env("PlaceOrder", place("H-11", lines=[{"sku": "CAP-BLK", "quantity": 1, "unit_price": "1.00"}] * 2)))
add("discount beyond the subtotal", "discount_exceeds_subtotal", value=env("PlaceOrder", place("H-12", discounts=[{"code": "ALL", "amount": "100.00"}])))
add("order placed twice", "order_already_placed", value=env("PlaceOrder", place("J-2001")))
add("capture in a status that forbids it", "illegal_transition", value=env("CapturePayment", capture()))
add("capture in another currency", "illegal_transition", value=env("CapturePayment", capture(currency="USD")))
add("refund beyond what was captured", "refund_exceeds_captured", value=env("Refund", refund(amount="1000.00")))
add("refund id reused", "refund_already_recorded", value=env("Refund", refund(refund_id="rf-1")))
add("refund of zero", "amount_must_be_positive", value=env("Refund", refund(amount="0.00")))
add("command for an order never placed", "order_not_found", value=env("CapturePayment", capture(order_id="00000000-0000-5000-8000-000000000000")))
# Stock.
add("release of a reservation never made", "reservation_not_found", value=env("ReleaseReservation", {"item": {"sku": "CAP-BLK", "warehouse": "BER-1"}, "order_id": "00000000-0000-5000-8000-000000000001", "reason": "order_cancelled"}))
# Finance.
add("payout by a customer", "actor_not_permitted", value=env("PayoutMerchant", {"merchant_id": "merchant-7", "currency": "EUR", "amount": "1.00", "payout_reference": "PO-H1"}, actor=("customer", "cust-77")))
add("payout beyond the available balance", "payout_exceeds_available", value=env("PayoutMerchant", {"merchant_id": "merchant-7", "currency": "EUR", "amount": "1000000.00", "payout_reference": "PO-H2"}, actor=("staff", "fin-ann")))
add("earnings accrued by a service", "actor_not_permitted", value=env("AccrueMerchantEarnings", {"merchant_id": "merchant-7", "currency": "EUR", "order_id": ORDER, "payment_id": "forged", "captured": "1000.00", "commission": "0.00"}))
add("settlement that does not add up", "settlement_does_not_add_up", value=env("RecordPspSettlement", {"provider": "adyen", "currency": "EUR", "bank_reference": "B-H", "gross": "100.00", "fees": "1.00", "net": "98.00", "settled_on": "2026-11-22"}, actor=("staff", "fin-ann")))
# Binary records (the handler reads bincode too): made from a valid command by the test.
add("truncated bincode", "truncated", None, binary_of="ReceiveStock", transform="truncate-half", expect_http="invalid_json")
add("unknown format tag", "unknown_format", None, binary_of="ReceiveStock", transform="tag-ff", expect_http="invalid_json")
add("bincode with trailing bytes", "trailing_bytes", None, binary_of="ReceiveStock", transform="append-garbage", expect_http="invalid_json")

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "commands.jsonl"), "w") as f:
    for e in entries:
        f.write(json.dumps(e, ensure_ascii=True) + "\n")
print(len(entries))
