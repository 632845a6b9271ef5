package letter_test

import (
	"bytes"
	"fmt"

	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
)

func ExampleParseMarkdown() {
	sections, err := letter.ParseMarkdown([]byte(`# To His Excellency the President of the Russian Federation

## Relations

The relations between our two countries are strong and strategic.

## Closing

With respect.
`))
	if err != nil {
		panic(err)
	}
	for i, s := range sections {
		fmt.Printf("%d %q: %q\n", i, s.Title, s.Text)
	}
	// Output:
	// 0 "": "# To His Excellency the President of the Russian Federation"
	// 1 "Relations": "The relations between our two countries are strong and strategic."
	// 2 "Closing": "With respect."
}

func ExampleCommit() {
	salt := make([]byte, record.SectionSaltSize)
	for i := range salt {
		salt[i] = byte(i)
	}
	c, err := letter.Commit(1, &letter.Section{Title: "Relations", Text: "Strong and strategic.", Salt: salt})
	if err != nil {
		panic(err)
	}
	fmt.Println(c)
	// Output:
	// 81c9315065fc210d79923a136ae9f17fd7631c1ffd821eb8a2f64f1fcbbe4158
}

// Seal a letter from the Leader to the President of Russia via the
// Speaker, write it as a .pouch file, and open it as the President.
func ExampleSeal() {
	leader, _ := keys.Generate("ir/leader")
	president, _ := keys.Generate("ru/president")
	sections, _ := letter.ParseMarkdown([]byte("## Relations\n\nStrong and strategic.\n"))

	var payload, file bytes.Buffer
	sealed, err := letter.Seal(&payload, &letter.SealRequest{
		Author: leader, To: president.Public(), Via: []record.Handle{"ir/speaker"}, Sections: sections,
	})
	if err != nil {
		panic(err)
	}
	head := &letter.FileHead{Tag: sealed.Tag.Signed.Marshal()}
	if err := letter.WriteFile(&file, head, &payload, sealed.Tag.Tag.Size); err != nil {
		panic(err)
	}
	fmt.Println("sealed to", sealed.Header.Header.Readers, "via", sealed.Tag.Tag.Via)

	f, err := letter.ReadFile(&file)
	if err != nil {
		panic(err)
	}
	opened, err := letter.OpenPouch(f, president, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(opened.Sections[0].Title+":", opened.Sections[0].Text)
	// Output:
	// sealed to [ir/leader ru/president] via [ir/speaker]
	// Relations: Strong and strategic.
}
