// Command freeze-loop plays the hub's freeze loop from a court's and a bank's own systems, in Go:
//
//  1. the court publishes a FreezeOrder to the bank and waits for the hub's receipt;
//  2. the bank receives it on its Subscribe stream, acknowledges it and publishes a FreezeFeedback;
//  3. the court receives the feedback, and the receipts of what it sent, on its own stream;
//  4. the court fetches the order's offline receipt (a C2SP tlog-proof) with GetReceipt;
//  5. the court publishes an invalid FreezeOrder and prints how the connector refuses it.
//
// Each agency talks only to its own connector (`hub connector run --agency <member id>`), over gRPC
// with mutual TLS: the consortium CA's certificate to check the connector, and the agency's client
// certificate and key, issued by that CA, to be let in (docs/partners.md, "Authenticate").
//
// The gRPC code comes from proto/hub/v1/*.proto (build.sh generates it into gen/hub/v1).
// Any unexpected answer ends the program with one line on stderr and exit status 1.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	hubv1 "judicial.hub/examples/go/gen/hub/v1"
)

const (
	freezeOrder    = "cn.judicial.hub.enforcement.FreezeOrder"
	freezeFeedback = "cn.judicial.hub.enforcement.FreezeFeedback"
	// Payload times are RFC 3339 with seconds and a zone (docs/partners.md, "Publish").
	rfc3339 = "2006-01-02T15:04:05Z07:00"
)

func main() {
	courtAddr := flag.String("court", "localhost:50051", "the court's connector, host:port")
	bankAddr := flag.String("bank", "localhost:50052", "the bank's connector, host:port")
	caFile := flag.String("ca", "", "the consortium CA certificate (PEM), e.g. ~/.cache/hub/pki/ca.pem")
	courtCert := flag.String("court-cert", "", "the court's client certificate (PEM)")
	courtKey := flag.String("court-key", "", "the court's client key (PEM)")
	bankCert := flag.String("bank-cert", "", "the bank's client certificate (PEM)")
	bankKey := flag.String("bank-key", "", "the bank's client key (PEM)")
	courtID := flag.String("court-id", "court-bj-chaoyang", "the court's member id")
	bankID := flag.String("bank-id", "bank-icbc-bj", "the bank's member id")
	wait := flag.Duration("timeout", 60*time.Second, "how long to wait for each step")
	flag.Parse()
	for name, v := range map[string]string{"ca": *caFile, "court-cert": *courtCert, "court-key": *courtKey,
		"bank-cert": *bankCert, "bank-key": *bankKey} {
		if v == "" {
			fail("flag -%s is required (see -help)", name)
		}
	}

	court := connect("court", *courtAddr, *caFile, *courtCert, *courtKey)
	bank := connect("bank", *bankAddr, *caFile, *bankCert, *bankKey)

	orderID, order := publishOrder(court, *bankID, *wait)
	bankAnswers(bank, orderID, order, *courtID, *wait)
	courtReadsFeedback(court, orderID, *wait)
	fetchProof(court, orderID, *wait)
	publishInvalidOrder(court, *bankID, order, *wait)
	fmt.Println("freeze loop done")
}

// connect opens a client of one agency's connector over mutual TLS. grpc-go checks the connector's
// server certificate against the CA and the host name of addr (the development certificates name
// localhost and 127.0.0.1); the connector checks that the client certificate names its agency.
func connect(who, addr, caFile, certFile, keyFile string) hubv1.ConnectorClient {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		fail("%s: %v", who, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		fail("%s: no certificate in %s", who, caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		fail("%s: client certificate: %v", who, err)
	}
	creds := credentials.NewTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert},
		MinVersion: tls.VersionTLS12})
	// NewClient connects lazily: a TLS or certificate problem shows on the first call, as UNAVAILABLE.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		fail("%s: %v", who, err)
	}
	return hubv1.NewConnectorClient(conn)
}

// freezeOrderJSON is a FreezeOrder payload (schemas/enforcement/FreezeOrder.v1.avsc): a plain JSON
// object, decimals as strings, times as RFC 3339 text. The freeze starts now and lasts under a year,
// and the bank must answer within a week (the domain rules, FreezeOrder.v1.rules.json).
func freezeOrderJSON(now time.Time) map[string]any {
	cst := time.FixedZone("CST", 8*3600)
	return map[string]any{
		"case_number": "（2026）京0105执1234号", "document_number": "（2026）京0105执1234号之一",
		"court_name": "北京市朝阳区人民法院", "judge": "王建国",
		"subject": map[string]any{"name": "北京某某贸易有限公司", "id_type": "UNIFIED_SOCIAL_CREDIT_CODE",
			"id_number": "91110105MA01ABCD26"},
		"account_number": "0200001234567890123", "amount": "1286400.50",
		"freeze_from":       now.In(cst).Format(rfc3339),
		"freeze_until":      now.In(cst).AddDate(0, 0, 364).Format(rfc3339),
		"legal_basis":       "《中华人民共和国民事诉讼法》第二百五十三条",
		"response_deadline": now.In(cst).AddDate(0, 0, 7).Format(rfc3339),
	}
}

// publishOrder is the court's step: Publish with wait_for_receipt and a deadline, so the answer
// says whether the hub's sequencer accepted the order onto the ledger. The idempotency key makes
// a retry of this very order safe: the connector answers it with the first answer.
func publishOrder(court hubv1.ConnectorClient, bankID string, wait time.Duration) (string, map[string]any) {
	order := freezeOrderJSON(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	resp, err := court.Publish(ctx, &hubv1.PublishRequest{
		Type:           freezeOrder,
		Recipients:     []string{bankID},
		Payload:        &hubv1.PublishRequest_PayloadJson{PayloadJson: mustJSON(order)},
		WaitForReceipt: true,
		IdempotencyKey: "freeze-loop/" + randomHex(),
	})
	if err != nil {
		fail("court: Publish FreezeOrder: %v", err)
	}
	r := resp.GetReceipt()
	if r.GetStatus() != hubv1.Receipt_ACCEPTED {
		fail("court: FreezeOrder %s not accepted: %s %s %s", resp.GetMessageId(), r.GetStatus(), r.GetReason(),
			r.GetDetail())
	}
	fmt.Printf("court: published FreezeOrder %s: receipt %s, ledger partition %d index %d, notarised %s\n",
		resp.GetMessageId(), r.GetStatus(), r.GetLedgerPartition(), r.GetLedgerIndex(), r.GetNotarisedAt())
	return resp.GetMessageId(), order
}

// bankAnswers is the bank's step: Subscribe (without after_cursor: after the last acknowledged item),
// find the order, Ack it once handled (delivery is at-least-once: unacknowledged items come again
// after a reconnect), and publish the feedback naming the order in correlation_id.
func bankAnswers(bank hubv1.ConnectorClient, orderID string, order map[string]any, courtID string,
	wait time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	stream, err := bank.Subscribe(ctx, &hubv1.SubscribeRequest{})
	if err != nil {
		fail("bank: Subscribe: %v", err)
	}
	for {
		d, err := stream.Recv()
		if err != nil {
			fail("bank: Subscribe ended before FreezeOrder %s arrived: %v", orderID, eofAsText(err))
		}
		m := d.GetMessage()
		if m == nil || m.GetType() != freezeOrder || m.GetMessageId() != orderID {
			continue // a receipt, or an earlier order: this example answers only its own
		}
		fmt.Printf("bank: received FreezeOrder %s from %s at ledger index %d\n", m.GetMessageId(), m.GetSender(),
			m.GetLedgerIndex())
		fmt.Printf("bank: payload_json %s\n", m.GetPayloadJson())
		if _, err := bank.Ack(ctx, &hubv1.AckRequest{Cursor: d.GetCursor()}); err != nil {
			fail("bank: Ack %d: %v", d.GetCursor(), err)
		}
		fmt.Printf("bank: acknowledged cursor %d\n", d.GetCursor())
		break
	}
	cancel() // ends the stream

	feedback := map[string]any{
		"case_number": order["case_number"], "account_number": order["account_number"], "status": "FROZEN",
		"frozen_amount": order["amount"], "executed_at": time.Now().Format(rfc3339),
		"bank_reference": "ICBC-DJ-" + randomHex()[:8],
	}
	pctx, pcancel := context.WithTimeout(context.Background(), wait)
	defer pcancel()
	resp, err := bank.Publish(pctx, &hubv1.PublishRequest{
		Type:           freezeFeedback,
		Recipients:     []string{courtID},
		CorrelationId:  orderID,
		Payload:        &hubv1.PublishRequest_PayloadJson{PayloadJson: mustJSON(feedback)},
		WaitForReceipt: true,
		IdempotencyKey: "freeze-loop/" + orderID + "/feedback",
	})
	if err != nil {
		fail("bank: Publish FreezeFeedback: %v", err)
	}
	if r := resp.GetReceipt(); r.GetStatus() != hubv1.Receipt_ACCEPTED {
		fail("bank: FreezeFeedback not accepted: %s %s %s", r.GetStatus(), r.GetReason(), r.GetDetail())
	}
	fmt.Printf("bank: published FreezeFeedback %s answering %s: receipt %s, ledger index %d\n",
		resp.GetMessageId(), orderID, resp.GetReceipt().GetStatus(), resp.GetReceipt().GetLedgerIndex())
}

// courtReadsFeedback is the court's stream: the bank's feedback (correlation_id = the order's id) and
// the receipt of the order, as the sequencer notarised it. It acknowledges once it has both.
func courtReadsFeedback(court hubv1.ConnectorClient, orderID string, wait time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	stream, err := court.Subscribe(ctx, &hubv1.SubscribeRequest{})
	if err != nil {
		fail("court: Subscribe: %v", err)
	}
	var gotFeedback, gotReceipt bool
	var last int64
	for !gotFeedback || !gotReceipt {
		d, err := stream.Recv()
		if err != nil {
			fail("court: Subscribe ended before the feedback and the order's receipt arrived: %v", eofAsText(err))
		}
		last = d.GetCursor()
		switch item := d.GetItem().(type) {
		case *hubv1.Delivery_Receipt:
			if item.Receipt.GetMessageId() == orderID {
				gotReceipt = true
				fmt.Printf("court: receipt for FreezeOrder %s: %s, ledger index %d\n", orderID,
					item.Receipt.GetStatus(), item.Receipt.GetLedgerIndex())
			}
		case *hubv1.Delivery_Message:
			m := item.Message
			if m.GetType() == freezeFeedback && m.GetCorrelationId() == orderID {
				gotFeedback = true
				fmt.Printf("court: received FreezeFeedback %s from %s answering %s\n", m.GetMessageId(),
					m.GetSender(), orderID)
				fmt.Printf("court: payload_json %s\n", m.GetPayloadJson())
			}
		}
	}
	if _, err := court.Ack(ctx, &hubv1.AckRequest{Cursor: last}); err != nil {
		fail("court: Ack %d: %v", last, err)
	}
}

// fetchProof asks the connector for the order's offline receipt. The connector fetches it from the
// verifier (it runs with --verifier URL). Until a published checkpoint covers the order, the answer
// is UNAVAILABLE with a RetryInfo detail saying when to ask again (connectors before that detail
// answered NOT_FOUND), so the court asks again until its deadline.
func fetchProof(court hubv1.ConnectorClient, orderID string, wait time.Duration) {
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := court.GetReceipt(ctx, &hubv1.GetReceiptRequest{MessageId: orderID})
		cancel()
		if err == nil {
			first, _, _ := strings.Cut(r.GetTlogProof(), "\n")
			fmt.Printf("court: tlog-proof for %s (%d bytes, ledger index %d, leaf hash %s): %s\n", orderID,
				len(r.GetTlogProof()), r.GetLedgerIndex(), r.GetLeafHash(), first)
			return
		}
		st := status.Convert(err)
		if (st.Code() != codes.Unavailable && st.Code() != codes.NotFound) || time.Now().After(deadline) {
			fail("court: GetReceipt %s: %v", orderID, err)
		}
		delay := 500 * time.Millisecond
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.RetryInfo); ok && info.GetRetryDelay().AsDuration() > 0 {
				delay = info.GetRetryDelay().AsDuration()
			}
		}
		time.Sleep(delay)
	}
}

// publishInvalidOrder shows a refusal: a negative amount breaks FreezeOrder's domain rules, so the
// connector answers INVALID_ARGUMENT and publishes nothing. The status's details (google.rpc.Status
// in the grpc-status-details-bin trailer) name each field: a BadRequest with one field violation
// per problem (field "payload.amount"), and an ErrorInfo with the stable reason code.
func publishInvalidOrder(court hubv1.ConnectorClient, bankID string, order map[string]any, wait time.Duration) {
	bad := map[string]any{}
	for k, v := range order {
		bad[k] = v
	}
	bad["amount"] = "-100.00"
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := court.Publish(ctx, &hubv1.PublishRequest{
		Type:       freezeOrder,
		Recipients: []string{bankID},
		Payload:    &hubv1.PublishRequest_PayloadJson{PayloadJson: mustJSON(bad)},
	})
	if err == nil {
		fail("court: the invalid FreezeOrder (amount -100.00) was accepted")
	}
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		fail("court: invalid FreezeOrder: expected INVALID_ARGUMENT, got %v", err)
	}
	fmt.Printf("court: invalid FreezeOrder refused: %s: %s\n", codeName(st.Code()), st.Message())
	found := false
	for _, d := range st.Details() {
		switch info := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range info.GetFieldViolations() {
				fmt.Printf("violation %s: %s\n", v.GetField(), v.GetDescription())
				found = true
			}
		case *errdetails.ErrorInfo:
			fmt.Printf("reason %s\n", info.GetReason())
			found = true
		}
	}
	if !found {
		fmt.Println("no details")
	}
}

// codeName is the canonical name of a gRPC code, e.g. INVALID_ARGUMENT (codes.Code's String() gives
// InvalidArgument).
func codeName(c codes.Code) string {
	var b strings.Builder
	lower := false
	for _, r := range c.String() {
		if lower && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		lower = r >= 'a' && r <= 'z'
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		fail("json: %v", err)
	}
	return string(b)
}

func randomHex() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		fail("random: %v", err)
	}
	return hex.EncodeToString(b)
}

func eofAsText(err error) string {
	if errors.Is(err, io.EOF) {
		return "the connector closed the stream"
	}
	return err.Error()
}

// fail prints one line on stderr and exits 1.
func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "freeze-loop: error: "+format+"\n", args...)
	os.Exit(1)
}
