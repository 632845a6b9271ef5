package agreement_test

import (
	"fmt"
	"os"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/agreement/jcpoa"
	"pouch.dev/internal/testkeys"
)

func ExampleTimeline_Status() {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixMilli()
	sc, err := jcpoa.Build("pouch.example/log", testkeys.Key, now)
	if err != nil {
		panic(err)
	}
	// The JCPOA's records as a log would sequence them, from index 100.
	tl, err := agreement.Replay(testkeys.NewDirectory(jcpoa.Principals()...), jcpoa.Entries(sc.JCPOA, 100, now))
	if err != nil {
		panic(err)
	}
	for _, d := range []agreement.Date{"2017-06-01", "2019-06-01", "2020-09-15", "2020-11-01"} {
		st := tl.Status(d)
		embargo := st.Clauses[2]
		fmt.Printf("%s: %d parties %v; %s %s; %d missing\n", d, st.PartiesInForce, tl.PartiesAt(d), embargo.ID, embargo.State, len(st.Missing))
	}
	// Output:
	// 2017-06-01: 7 parties [ir us uk fr ru cn de]; arms-embargo active; 0 missing
	// 2019-06-01: 6 parties [ir uk fr ru cn de]; arms-embargo active; 0 missing
	// 2020-09-15: 6 parties [ir uk fr ru cn de]; arms-embargo active; 1 missing
	// 2020-11-01: 6 parties [ir uk fr ru cn de]; arms-embargo lapsed; 1 missing
}

func ExampleWriteRoll() {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixMilli()
	sc, err := jcpoa.Build("pouch.example/log", testkeys.Key, now)
	if err != nil {
		panic(err)
	}
	roll, err := agreement.ReplayStatement(testkeys.NewDirectory(jcpoa.Principals()...), jcpoa.Entries(sc.Statement, 500, now))
	if err != nil {
		panic(err)
	}
	fmt.Println(roll.Count(), "co-signatures")
	agreement.WriteRoll(os.Stdout, roll, 0)
	// Output:
	// 85 co-signatures
	// Nuclear non-proliferation experts' statement in support of the JCPOA
	//   statement 1879983acd7dc81afc9b2bdec940acec6f5640f39c81cc20e95c8190a23f508f, opened by experts/convener on 2017-09-13 at log index 500
	//   text SHA-256 26f1e984717cb81c763caf9d46813385b40829ba4a733c33aaf65cb2212c3617
	//   85 co-signatures, each verified against its signer's key in the directory
	//     … and 85 more
}
