package main

import (
	"flag"
	"fmt"
	"strings"

	"entangle/pkg/cli"
	"entangle/pkg/hfmodel"
	"entangle/pkg/train"
)

// exportFlags are the flags of -export-hf.
type exportFlags struct {
	dir   *string
	dtype *string
}

func addExportFlags(fs *flag.FlagSet) *exportFlags {
	return &exportFlags{
		dir:   fs.String("export-hf", "", "write the -init weights as a Hugging Face model `directory` (config.json, model.safetensors; gpt2, gpt_neox, llama or qwen2 by the weights' architecture) and exit; no dataset, no training"),
		dtype: fs.String("export-dtype", "F32", "-export-hf: weight `dtype` F32, F16 or BF16 (rounded to nearest even)"),
	}
}

// runExport is -export-hf DIR: the weights of -init (a checkpoint, a model
// file or a model directory) written as a Hugging Face model directory, with
// the tokenizer files of the model directory the weights descend from, when
// there is one (followed through the train_config "init" of each checkpoint).
func runExport(env *cli.Env, set map[string]bool, init string, ef *exportFlags, force, quiet bool) error {
	for name := range set {
		switch name {
		case "export-hf", "export-dtype", "init", "force", "q":
		default:
			return cli.Usagef("-%s does not apply to -export-hf (it takes -init, -export-dtype and -force)", name)
		}
	}
	if init == "" {
		return cli.Usagef("-export-hf needs -init CHECKPOINT|DIR (the weights to export)")
	}
	dtype := strings.ToUpper(*ef.dtype)
	if dtype != "F32" && dtype != "F16" && dtype != "BF16" {
		return cli.Usagef("-export-dtype must be F32, F16 or BF16, got %q", *ef.dtype)
	}
	if err := train.CheckDir(*ef.dir, force); err != nil {
		return cli.Usagef("%s", strings.Replace(err.Error(), "-out", "-export-hf", 1))
	}
	ck, err := train.ReadCheckpoint(init)
	if err != nil {
		return err
	}
	// The family of the model directory the weights descend from (a
	// mistral stays mistral): the directory's when it is there, else the
	// one the checkpoint recorded, else the one the architecture implies.
	src := train.HFAncestor(init)
	mt := hfmodel.ModelType(ck.Model)
	if ck.Family != "" {
		mt = ck.Family
	}
	if src != "" {
		if acfg, t, err := hfmodel.Inspect(src); err == nil && acfg.Arch == ck.Model.Arch {
			mt = t
		}
	}
	if err := hfmodel.Write(*ef.dir, mt, ck.Model, ck.Params, dtype); err != nil {
		return err
	}
	var copied []string
	if src != "" {
		if copied, err = hfmodel.CopyTokenizer(src, *ef.dir); err != nil {
			return err
		}
	}
	if !quiet {
		msg := fmt.Sprintf("wrote %s (%s %s, %d parameters)", *ef.dir, mt, dtype, len(ck.Params))
		if len(copied) > 0 {
			msg += fmt.Sprintf("; tokenizer files from %s: %s", src, strings.Join(copied, ", "))
		} else {
			msg += "; no tokenizer files (the weights do not descend from a model directory)"
		}
		fmt.Fprintf(env.Stderr, "%s: %s\n", env.Name, msg)
	}
	return nil
}
