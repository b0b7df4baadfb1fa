package cn.judicial.hub.example;

import cn.judicial.hub.v1.AckRequest;
import cn.judicial.hub.v1.AckResponse;
import cn.judicial.hub.v1.ConnectorGrpc;
import cn.judicial.hub.v1.ConnectorGrpc.ConnectorBlockingStub;
import cn.judicial.hub.v1.Delivery;
import cn.judicial.hub.v1.GetReceiptRequest;
import cn.judicial.hub.v1.GetReceiptResponse;
import cn.judicial.hub.v1.Message;
import cn.judicial.hub.v1.PublishRequest;
import cn.judicial.hub.v1.PublishResponse;
import cn.judicial.hub.v1.Receipt;
import cn.judicial.hub.v1.SubscribeRequest;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.Any;
import com.google.protobuf.Duration;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.PreconditionFailure;
import com.google.rpc.RetryInfo;
import io.grpc.ChannelCredentials;
import io.grpc.Context;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.protobuf.StatusProto;
import java.io.File;
import java.io.IOException;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * The freeze loop, as a court's and a bank's systems play it through their own connectors.
 *
 * <ol>
 *   <li>the court publishes a freeze order and waits for the hub's receipt;</li>
 *   <li>the bank receives the order on its Subscribe stream, acknowledges it and answers with a
 *       freeze feedback naming the order;</li>
 *   <li>the court receives the feedback (and the receipt of its order) on its own stream;</li>
 *   <li>the court fetches the order's tlog-proof receipt (GetReceipt), its evidence for a judge;</li>
 *   <li>the court publishes an invalid order and reads what the connector says is wrong with it.</li>
 * </ol>
 *
 * Each agency reaches its own connector with mutual TLS: the consortium CA (to trust the
 * connector) and the agency's client certificate and key, all PEM files (docs/partners.md, 2).
 * Everything is printed one fact a line; any unexpected failure prints one {@code error:} line and
 * exits 1.
 */
public final class FreezeLoop {

    static final String ORDER = "cn.judicial.hub.enforcement.FreezeOrder";
    static final String FEEDBACK = "cn.judicial.hub.enforcement.FreezeFeedback";

    /**
     * Times in payloads: RFC 3339 with seconds and a zone, at most six fractional digits.
     * (OffsetDateTime.toString() drops zero seconds, which the connector refuses.)
     */
    static final DateTimeFormatter RFC3339 = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX");
    static final ZoneId BEIJING = ZoneId.of("Asia/Shanghai");

    static final String USAGE = String.join("\n",
            "usage: java -jar hub-example-java.jar --court HOST:PORT --bank HOST:PORT --ca CA.pem",
            "           --court-cert FILE --court-key FILE --bank-cert FILE --bank-key FILE",
            "           [--court-id court-bj-chaoyang] [--bank-id bank-icbc-bj] [--timeout SECONDS]");

    /** What the program is doing, for the one error line if it fails. */
    private static String step = "start";

    public static void main(String[] args) {
        try {
            run(options(args));
            System.out.println("freeze loop OK");
        } catch (UsageError e) {
            System.err.println("error: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
        } catch (StatusRuntimeException e) {
            System.err.println("error: " + step + ": " + describe(e));
            System.exit(1);
        } catch (Exception e) {
            System.err.println("error: " + step + ": " + e.getClass().getSimpleName() + ": " + oneLine(e.getMessage())
                    + rootCause(e));
            System.exit(1);
        }
    }

    static void run(Map<String, String> opt) throws Exception {
        String courtId = opt.getOrDefault("court-id", "court-bj-chaoyang");
        String bankId = opt.getOrDefault("bank-id", "bank-icbc-bj");
        long timeout = Long.parseLong(opt.getOrDefault("timeout", "30"));
        File ca = file(opt, "ca");

        step = "connect";
        ManagedChannel courtChannel = connect(need(opt, "court"), ca, file(opt, "court-cert"), file(opt, "court-key"));
        ManagedChannel bankChannel = connect(need(opt, "bank"), ca, file(opt, "bank-cert"), file(opt, "bank-key"));
        try {
            ConnectorBlockingStub court = ConnectorGrpc.newBlockingStub(courtChannel);
            ConnectorBlockingStub bank = ConnectorGrpc.newBlockingStub(bankChannel);

            // (a) The court publishes a freeze order and waits for the hub's receipt.
            step = "court Publish FreezeOrder";
            OffsetDateTime now = OffsetDateTime.now(BEIJING).truncatedTo(ChronoUnit.SECONDS);
            JsonObject order = freezeOrder(now, "1286400.50");
            PublishResponse published = court
                    // Always set a deadline: without one the connector waits up to 30 s for the receipt.
                    .withDeadlineAfter(timeout, TimeUnit.SECONDS)
                    .publish(PublishRequest.newBuilder()
                            .setType(ORDER)
                            .addRecipients(bankId)
                            .setPayloadJson(order.toString())
                            .setWaitForReceipt(true)
                            // Derive the key from your own record of the order, so that a retry after a
                            // timeout or a crash is answered with the first copy's receipt, never
                            // published twice. (Random here: each run is a new order.)
                            .setIdempotencyKey(courtId + "/freeze/" + UUID.randomUUID())
                            .build());
            Receipt receipt = published.getReceipt();
            String orderId = published.getMessageId();
            System.out.printf("court published order %s: receipt %s partition %d index %d leaf %s notarised %s%n",
                    orderId, receipt.getStatus(), receipt.getLedgerPartition(), receipt.getLedgerIndex(),
                    receipt.getLeafHash(), receipt.getNotarisedAt());
            if (receipt.getStatus() != Receipt.Status.ACCEPTED) {
                throw new IllegalStateException("the order was " + receipt.getStatus() + ": "
                        + receipt.getReason() + " " + receipt.getDetail());
            }

            // (b) The bank reads its stream until the order arrives, stores it (here: prints it),
            // acknowledges it and answers.
            step = "bank Subscribe";
            Delivery[] got = new Delivery[1];
            readStream(bank, timeout, d -> {
                if (d.hasMessage() && d.getMessage().getMessageId().equals(orderId)) {
                    got[0] = d;
                    return true;
                }
                return false; // anything else on a shared demo hub: earlier orders, receipts
            });
            Message received = got[0].getMessage();
            System.out.printf("bank received order %s from %s (type %s, cursor %d, ledger index %d)%n",
                    received.getMessageId(), received.getSender(), received.getType(), got[0].getCursor(),
                    received.getLedgerIndex());
            if (!received.getPayloadUnavailable().isEmpty()) {
                throw new IllegalStateException("the bank cannot read the order: " + received.getPayloadUnavailable());
            }
            System.out.println("bank payload_json: " + received.getPayloadJson());

            // Acknowledge only once the item is safely stored: a later Subscribe resumes after it.
            // Until then it is delivered again after a reconnect (at-least-once: deduplicate by message id).
            step = "bank Ack";
            AckResponse acked = bank.withDeadlineAfter(5, TimeUnit.SECONDS)
                    .ack(AckRequest.newBuilder().setCursor(got[0].getCursor()).build());
            System.out.printf("bank acked cursor %d (next %d)%n", got[0].getCursor(), acked.getNextCursor());

            step = "bank Publish FreezeFeedback";
            JsonObject theOrder = JsonParser.parseString(received.getPayloadJson()).getAsJsonObject();
            JsonObject feedback = new JsonObject();
            feedback.addProperty("case_number", theOrder.get("case_number").getAsString());
            feedback.addProperty("account_number", theOrder.get("account_number").getAsString());
            feedback.addProperty("status", "FROZEN");
            feedback.addProperty("frozen_amount", theOrder.get("amount").getAsString()); // decimals as strings
            feedback.addProperty("executed_at", RFC3339.format(OffsetDateTime.now(BEIJING)));
            feedback.addProperty("bank_reference", "ICBC-DJ-" + received.getLedgerIndex());
            PublishResponse answered = bank.withDeadlineAfter(timeout, TimeUnit.SECONDS)
                    .publish(PublishRequest.newBuilder()
                            .setType(FEEDBACK)
                            .addRecipients(received.getSender())
                            .setCorrelationId(received.getMessageId()) // the order it answers
                            .setPayloadJson(feedback.toString())
                            .setWaitForReceipt(true)
                            .setIdempotencyKey(bankId + "/freeze-feedback/" + received.getMessageId())
                            .build());
            System.out.printf("bank published feedback %s for order %s: receipt %s index %d%n",
                    answered.getMessageId(), orderId, answered.getReceipt().getStatus(),
                    answered.getReceipt().getLedgerIndex());
            if (answered.getReceipt().getStatus() != Receipt.Status.ACCEPTED) {
                throw new IllegalStateException("the feedback was " + answered.getReceipt().getStatus() + ": "
                        + answered.getReceipt().getReason() + " " + answered.getReceipt().getDetail());
            }

            // (c) The court's stream carries the receipts of what it sent and the messages sent to it.
            step = "court Subscribe";
            boolean[] seen = new boolean[2]; // [receipt of the order, feedback to it]
            long[] last = {-1};
            readStream(court, timeout, d -> {
                if (d.hasReceipt() && d.getReceipt().getMessageId().equals(orderId)) {
                    System.out.printf("court received receipt for order %s: %s index %d%n",
                            orderId, d.getReceipt().getStatus(), d.getReceipt().getLedgerIndex());
                    seen[0] = true;
                } else if (d.hasMessage() && d.getMessage().getCorrelationId().equals(orderId)) {
                    Message m = d.getMessage();
                    String status = JsonParser.parseString(m.getPayloadJson()).getAsJsonObject()
                            .get("status").getAsString();
                    System.out.printf("court received feedback %s from %s for order %s: status %s%n",
                            m.getMessageId(), m.getSender(), m.getCorrelationId(), status);
                    seen[1] = true;
                }
                last[0] = Math.max(last[0], d.getCursor());
                return seen[0] && seen[1];
            });
            step = "court Ack";
            court.withDeadlineAfter(5, TimeUnit.SECONDS).ack(AckRequest.newBuilder().setCursor(last[0]).build());
            System.out.printf("court acked cursor %d%n", last[0]);

            // (d) The order's proof of inclusion in the ledger: NOT_FOUND until a checkpoint the
            // sequencer publishes covers it (a fraction of a second to a few seconds): retry.
            step = "court GetReceipt";
            GetReceiptResponse proof = getReceipt(court, orderId, timeout);
            System.out.printf("court got tlog-proof for order %s: partition %d index %d, %d bytes, first line %s%n",
                    orderId, proof.getLedgerPartition(), proof.getLedgerIndex(), proof.getTlogProof().length(),
                    proof.getTlogProof().lines().findFirst().orElse(""));

            // (e) An invalid order: the connector refuses it and says which fields are wrong.
            step = "court Publish invalid FreezeOrder";
            JsonObject invalid = freezeOrder(now, "-100.00"); // a negative amount breaks a domain rule
            try {
                court.withDeadlineAfter(timeout, TimeUnit.SECONDS).publish(PublishRequest.newBuilder()
                        .setType(ORDER)
                        .addRecipients(bankId)
                        .setPayloadJson(invalid.toString())
                        .setWaitForReceipt(true)
                        .build());
                throw new IllegalStateException("the connector accepted an order with a negative amount");
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() != Status.Code.INVALID_ARGUMENT) {
                    throw e;
                }
                System.out.println("invalid order refused: " + e.getStatus().getCode() + ": "
                        + e.getStatus().getDescription());
                printDetails(e);
            }
        } finally {
            courtChannel.shutdownNow();
            bankChannel.shutdownNow();
            courtChannel.awaitTermination(5, TimeUnit.SECONDS);
            bankChannel.awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /**
     * A channel to a connector with mutual TLS, grpc-java's defaults otherwise: the connector's
     * certificate must chain to the consortium CA and name the host you dial (localhost or
     * 127.0.0.1 in development); yours tells the connector which agency you are.
     */
    static ManagedChannel connect(String target, File ca, File cert, File key) throws IOException {
        ChannelCredentials credentials = TlsChannelCredentials.newBuilder()
                .trustManager(ca)          // trust only the consortium CA
                .keyManager(cert, key)     // client certificate and its key (PKCS#8 PEM)
                .build();
        return Grpc.newChannelBuilder(target, credentials).build(); // Netty, from grpc-netty-shaded
    }

    /** A freeze order as the court's case system would fill it in (times relative to now). */
    static JsonObject freezeOrder(OffsetDateTime now, String amount) {
        JsonObject subject = new JsonObject();
        subject.addProperty("name", "北京某某贸易有限公司");
        subject.addProperty("id_type", "UNIFIED_SOCIAL_CREDIT_CODE");
        subject.addProperty("id_number", "91110105MA01ABCD26");
        JsonObject o = new JsonObject();
        o.addProperty("case_number", "（2026）京0105执1234号");
        o.addProperty("document_number", "（2026）京0105执1234号之一");
        o.addProperty("court_name", "北京市朝阳区人民法院");
        o.addProperty("judge", "王建国");
        o.add("subject", subject);
        o.addProperty("account_number", "0200001234567890123");
        o.addProperty("amount", amount); // a decimal as a string, never a float
        o.addProperty("freeze_from", RFC3339.format(now));
        o.addProperty("freeze_until", RFC3339.format(now.plusMonths(6))); // at most a year
        o.addProperty("legal_basis", "《中华人民共和国民事诉讼法》第二百五十三条");
        o.addProperty("response_deadline", RFC3339.format(now.plusDays(7)));
        return o;
    }

    /**
     * Reads a Subscribe stream (resuming after the last acknowledged cursor) until {@code done}
     * says it has what it waited for, then cancels the stream. The deadline bounds the whole wait.
     */
    static void readStream(ConnectorBlockingStub stub, long timeoutSeconds, Predicate<Delivery> done) {
        Context.CancellableContext call = Context.current().withCancellation();
        try {
            call.run(() -> {
                Iterator<Delivery> stream = stub.withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS)
                        .subscribe(SubscribeRequest.getDefaultInstance());
                while (stream.hasNext()) {
                    if (done.test(stream.next())) {
                        return;
                    }
                }
                throw new IllegalStateException("the stream ended before the expected delivery");
            });
        } finally {
            call.cancel(null); // closes the stream on the connector's side too
        }
    }

    /**
     * GetReceipt, asked again while the answer is "not yet": UNAVAILABLE (the message is notarised
     * but no published checkpoint covers it yet, or it is still on its way to the sequencer; the
     * RetryInfo detail says when to ask again), or NOT_FOUND from a connector that predates that
     * distinction. NOT_FOUND with the reason REJECTED or NOT_ON_LEDGER is final.
     */
    static GetReceiptResponse getReceipt(ConnectorBlockingStub stub, String messageId, long timeoutSeconds)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
        while (true) {
            try {
                return stub.withDeadlineAfter(10, TimeUnit.SECONDS)
                        .getReceipt(GetReceiptRequest.newBuilder().setMessageId(messageId).build());
            } catch (StatusRuntimeException e) {
                Status.Code code = e.getStatus().getCode();
                String reason = errorReason(e);
                boolean notYet = code == Status.Code.UNAVAILABLE || (code == Status.Code.NOT_FOUND
                        && !reason.equals("REJECTED") && !reason.equals("NOT_ON_LEDGER"));
                if (!notYet || System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(Math.min(retryDelayMillis(e), 1000));
            }
        }
    }

    /** The ErrorInfo reason code of an error, "" without one. */
    static String errorReason(StatusRuntimeException e) {
        com.google.rpc.Status status = StatusProto.fromThrowable(e);
        if (status != null) {
            for (Any detail : status.getDetailsList()) {
                if (detail.is(ErrorInfo.class)) {
                    try {
                        return detail.unpack(ErrorInfo.class).getReason();
                    } catch (InvalidProtocolBufferException ignored) {
                        return "";
                    }
                }
            }
        }
        return "";
    }

    /** How long the RetryInfo detail says to wait, 250 ms without one. */
    static long retryDelayMillis(StatusRuntimeException e) {
        com.google.rpc.Status status = StatusProto.fromThrowable(e);
        if (status != null) {
            for (Any detail : status.getDetailsList()) {
                if (detail.is(RetryInfo.class)) {
                    try {
                        Duration d = detail.unpack(RetryInfo.class).getRetryDelay();
                        return d.getSeconds() * 1000 + d.getNanos() / 1_000_000;
                    } catch (InvalidProtocolBufferException ignored) {
                        break;
                    }
                }
            }
        }
        return 250;
    }

    /**
     * The typed details of an error (google.rpc.Status in the grpc-status-details-bin trailer):
     * BadRequest names each bad field, ErrorInfo gives a stable reason code.
     */
    static void printDetails(StatusRuntimeException e) throws InvalidProtocolBufferException {
        com.google.rpc.Status status = StatusProto.fromThrowable(e);
        if (status == null || status.getDetailsCount() == 0) {
            System.out.println("no details");
            return;
        }
        for (Any detail : status.getDetailsList()) {
            if (detail.is(BadRequest.class)) {
                for (BadRequest.FieldViolation v : detail.unpack(BadRequest.class).getFieldViolationsList()) {
                    System.out.println("violation " + v.getField() + ": " + v.getDescription()
                            + (v.getReason().isEmpty() ? "" : " [" + v.getReason() + "]"));
                }
            } else if (detail.is(ErrorInfo.class)) {
                ErrorInfo info = detail.unpack(ErrorInfo.class);
                System.out.println("error-info reason " + info.getReason() + " domain " + info.getDomain()
                        + " metadata " + info.getMetadataMap());
            } else if (detail.is(PreconditionFailure.class)) {
                for (PreconditionFailure.Violation v : detail.unpack(PreconditionFailure.class).getViolationsList()) {
                    System.out.println("precondition " + v.getType() + " " + v.getSubject() + ": " + v.getDescription());
                }
            } else {
                System.out.println("detail " + detail.getTypeUrl());
            }
        }
    }

    /** "CODE: description", and the underlying exception (e.g. the TLS handshake's) when there is one. */
    static String describe(StatusRuntimeException e) {
        Status s = e.getStatus();
        return s.getCode() + ": " + oneLine(s.getDescription()) + rootCause(e);
    }

    /** grpc-java's transport errors span lines ("io exception\nChannel Pipeline: [...]"): keep one. */
    static String oneLine(String text) {
        return text == null ? "" : text.replace("\r", "").replace("\n", " | ");
    }

    static String rootCause(Throwable e) {
        Throwable root = e.getCause();
        if (root == null) {
            return "";
        }
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return " (cause: " + root.getClass().getName() + ": " + oneLine(root.getMessage()) + ")";
    }

    // --- command line -------------------------------------------------------------------------

    static final class UsageError extends Exception {
        UsageError(String message) {
            super(message);
        }
    }

    static final List<String> KNOWN = List.of("court", "bank", "ca", "court-cert", "court-key", "bank-cert",
            "bank-key", "court-id", "bank-id", "timeout");

    static Map<String, String> options(String[] args) throws UsageError {
        Map<String, String> opt = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String name = args[i].startsWith("--") ? args[i].substring(2) : null;
            if (name == null || !KNOWN.contains(name)) {
                throw new UsageError("unknown argument " + args[i]);
            }
            if (i + 1 >= args.length) {
                throw new UsageError("--" + name + " needs a value");
            }
            opt.put(name, args[++i]);
        }
        return opt;
    }

    static String need(Map<String, String> opt, String name) throws UsageError {
        String v = opt.get(name);
        if (v == null || v.isEmpty()) {
            throw new UsageError("--" + name + " is required");
        }
        return v;
    }

    static File file(Map<String, String> opt, String name) throws UsageError {
        File f = new File(need(opt, name));
        if (!f.canRead()) {
            throw new UsageError("--" + name + ": cannot read " + f);
        }
        return f;
    }

    private FreezeLoop() {
    }
}
