package encrypt

import (
	"fmt"
	"os"
)

// ReadFile reads a small state file kept beside the engine (the InfluxQL
// catalog, the retention policies): opened with keys when it is sealed.
// With keys nil a sealed file is refused with ErrEncrypted; a sealed file
// with a damaged stretch is refused (these files carry no checksum of
// their own).
func ReadFile(keys *Keyring, name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if keys == nil {
		if err := NotEncryptedCheck(name, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	plain, damaged, err := keys.ReadAll(name, b)
	if err != nil {
		return nil, err
	}
	if damaged > 0 {
		return nil, fmt.Errorf("%w: %s: %d sealed frames fail authentication", ErrDamaged, name, damaged)
	}
	return plain, nil
}

// SealIf returns data sealed with keys, or data as it is when keys is nil.
func SealIf(keys *Keyring, data []byte) ([]byte, error) {
	if keys == nil {
		return data, nil
	}
	return keys.Seal(data)
}
