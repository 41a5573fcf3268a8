module github.com/untrackd/untrackd

go 1.26.8
