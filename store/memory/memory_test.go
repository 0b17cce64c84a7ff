package memory_test

import (
	"testing"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/memory"
	"github.com/sessiongate/sessiongate/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return memory.New() })
}
