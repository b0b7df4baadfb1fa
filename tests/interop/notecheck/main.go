// Command notecheck checks the hub's signed notes with Go's golang.org/x/mod/sumdb/note.
//
// It reads one JSON request on standard input and writes one JSON answer on
// standard output (see request and answer below); any failure goes to standard
// error with exit status 1. tests/integration/test_note_interop.py drives it.
//
// The hub's log signatures (type 0x01) are checked by x/mod's own verifier.
// x/mod has no verifier for witness cosignatures (c2sp.org/tlog-cosignature,
// type 0x04), so cosigVerifier below implements that spec on the
// note.Verifier interface, and note.Open still does the note parsing.
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

type request struct {
	Note         string   `json:"note"`          // a signed note to open
	LogVkey      string   `json:"log_vkey"`      // Ed25519 (type 0x01) verifier key
	WitnessVkeys []string `json:"witness_vkeys"` // cosignature (type 0x04) verifier keys
	SignSkey     string   `json:"sign_skey"`     // signer key Go should sign SignText with
	SignText     string   `json:"sign_text"`
}

type sig struct {
	Name      string `json:"name"`
	Hash      string `json:"hash"`
	Timestamp uint64 `json:"timestamp,omitempty"`
}

type answer struct {
	Text       string `json:"text"`
	Sigs       []sig  `json:"sigs"`
	Unverified []sig  `json:"unverified"`
	LogVkey    string `json:"log_vkey"` // the log key re-encoded by Go
	Signed     string `json:"signed"`   // SignText signed by Go
}

// cosigVerifier verifies Ed25519 cosignatures per c2sp.org/tlog-cosignature v1.
type cosigVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }

// Verify checks timestamp(8, big-endian) || Ed25519 signature over
// "cosignature/v1\ntime <timestamp>\n" || note text.
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	ts := binary.BigEndian.Uint64(sig[:8])
	if ts > 1<<63-1 {
		return false
	}
	signed := "cosignature/v1\ntime " + strconv.FormatUint(ts, 10) + "\n" + string(msg)
	return ed25519.Verify(v.key, []byte(signed), sig[8:])
}

func newCosigVerifier(vkey string) (*cosigVerifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || len(parts[1]) != 8 {
		return nil, errors.New("malformed cosigner vkey")
	}
	hash, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 0x04 {
		return nil, errors.New("cosigner vkey is not an Ed25519 cosignature key")
	}
	h := sha256.Sum256(append([]byte(parts[0]+"\n"), raw...))
	if binary.BigEndian.Uint32(h[:4]) != uint32(hash) {
		return nil, errors.New("cosigner vkey's key ID does not match its key")
	}
	return &cosigVerifier{name: parts[0], hash: uint32(hash), key: ed25519.PublicKey(raw[1:])}, nil
}

func run() error {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		return fmt.Errorf("reading request: %w", err)
	}
	logV, err := note.NewVerifier(req.LogVkey)
	if err != nil {
		return fmt.Errorf("log vkey: %w", err)
	}
	verifiers := []note.Verifier{logV}
	cosigners := map[string]bool{}
	for _, vk := range req.WitnessVkeys {
		v, err := newCosigVerifier(vk)
		if err != nil {
			return fmt.Errorf("witness vkey %q: %w", vk, err)
		}
		verifiers = append(verifiers, v)
		cosigners[v.name] = true
	}
	n, err := note.Open([]byte(req.Note), note.VerifierList(verifiers...))
	if err != nil {
		return fmt.Errorf("note.Open: %w", err)
	}
	ans := answer{Text: n.Text, Sigs: []sig{}, Unverified: []sig{}}
	for _, s := range n.Sigs {
		out := sig{Name: s.Name, Hash: fmt.Sprintf("%08x", s.Hash)}
		if cosigners[s.Name] {
			raw, _ := base64.StdEncoding.DecodeString(s.Base64)
			out.Timestamp = binary.BigEndian.Uint64(raw[4:12])
		}
		ans.Sigs = append(ans.Sigs, out)
	}
	for _, s := range n.UnverifiedSigs {
		ans.Unverified = append(ans.Unverified, sig{Name: s.Name, Hash: fmt.Sprintf("%08x", s.Hash)})
	}
	pub, err := base64.StdEncoding.DecodeString(strings.SplitN(req.LogVkey, "+", 3)[2])
	if err != nil {
		return err
	}
	if ans.LogVkey, err = note.NewEd25519VerifierKey(logV.Name(), ed25519.PublicKey(pub[1:])); err != nil {
		return err
	}
	signer, err := note.NewSigner(req.SignSkey)
	if err != nil {
		return fmt.Errorf("sign skey: %w", err)
	}
	signed, err := note.Sign(&note.Note{Text: req.SignText}, signer)
	if err != nil {
		return fmt.Errorf("note.Sign: %w", err)
	}
	ans.Signed = string(signed)
	return json.NewEncoder(os.Stdout).Encode(ans)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "notecheck:", err)
		os.Exit(1)
	}
}
