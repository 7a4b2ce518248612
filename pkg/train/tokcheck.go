package train

import (
	"fmt"

	"entangle/pkg/prefdata"
	"entangle/pkg/tokenizer"
)

// checkDirTokenizer refuses a dataset that records the tokenizer it was made
// with (prefgen import's tokenizer_identity) when that is not the tokenizer
// of the model directory dir: another kind, vocabulary, token or file hash
// (prefdata.CheckTokenizer). A directory without a readable tokenizer cannot
// vouch for such a dataset and is refused too. Datasets without an identity
// (synthetic ones) are not checked here; their vocabulary size is.
func checkDirTokenizer(dir string, d *prefdata.Dataset) error {
	if d.Identity == nil {
		return nil
	}
	tk, err := tokenizer.Load(dir)
	if err != nil {
		return fmt.Errorf("%s: the dataset was tokenized with %s (%s) but the model directory's tokenizer cannot be read: %v",
			dir, d.Identity.Name, d.Identity.Kind, err)
	}
	if err := prefdata.CheckTokenizer(d, prefdata.TokenizerIdentity(tk.Identity()), tk.Vocab()); err != nil {
		return fmt.Errorf("%s: %v", dir, err)
	}
	return nil
}
