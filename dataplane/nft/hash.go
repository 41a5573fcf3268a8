package nft

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// CommentPrefix starts the comment of every rule untrackd writes.
const CommentPrefix = "ut:"

// hashLen is the number of base32 characters of a rule hash (80 bits).
const hashLen = 16

// maxCommentLen is the kernel's limit on a rule comment (NFT_USERDATA_MAXLEN
// allows more, but nft truncates comments at 128 bytes including the NUL).
const maxCommentLen = 127

var hashEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Hash returns a short digest of the rule's expressions. Two rules with the
// same Hash do the same thing; the comment does not count.
func (r Rule) Hash() string {
	sum := sha256.Sum256([]byte(r.String()))
	return hashEncoding.EncodeToString(sum[:])[:hashLen]
}

// StoredComment is the comment written to the kernel with the rule:
// "ut:<hash> <comment>", truncated to the kernel's limit.
func (r Rule) StoredComment() string {
	c := CommentPrefix + r.Hash()
	if r.Comment != "" {
		c += " " + r.Comment
	}
	if len(c) > maxCommentLen {
		c = c[:maxCommentLen]
	}
	return c
}

// HashFromComment extracts the hash from a stored comment, or "" if the
// comment is not one untrackd wrote.
func HashFromComment(c string) string {
	rest, ok := strings.CutPrefix(c, CommentPrefix)
	if !ok || len(rest) < hashLen {
		return ""
	}
	h := rest[:hashLen]
	if len(rest) > hashLen && rest[hashLen] != ' ' {
		return ""
	}
	return h
}
