package scratch

import (
	"fmt"
	"os"
	"testing"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
)

func TestConv(t *testing.T) {
	data, _ := os.ReadFile(os.Getenv("SRC"))
	res, err := plugin.NewConverter(config.Default()).Convert(plugin.Input{Config: data, Repo: "octo/x", OptInAll: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = res
	fmt.Print()
}
