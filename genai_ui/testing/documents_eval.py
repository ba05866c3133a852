"""The documents' evaluation set: short documents about invented places, people and things (no model knows
them beforehand), each with a question whose answer is in that document only, and the word the answer holds.

`python -m genai_ui.bench documents` and tests/test_documents_quality.py measure retrieval's recall@1 and
recall@5 and the answers' citations with it (the figures are in docs/documents.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Case:
    file: str
    text: str
    question: str
    answer: str  # a word the right answer holds


CASES = (
    Case("velmora.txt", "Velmora is a harbour town on the island of Quessant. Its lighthouse was built in 1871 by the "
         "engineer Odile Farrand. The town is known for its blue slate roofs.",
         "Who built the lighthouse of Velmora?", "Farrand"),
    Case("tarrow_bakery.md", "# The Tarrow bakery\n\nThe Tarrow bakery in Dunmere sells rye bread baked with "
         "caraway seeds. It opened in 1932 and the Pell family still runs it.",
         "Which family runs the Tarrow bakery?", "Pell"),
    Case("kestrel_river.txt", "The Kestrel River rises in the Ombrin hills and flows 214 kilometres to the Sallow "
         "Sea. Its main tributary is the Lisk.", "How long is the Kestrel River?", "214"),
    Case("orrin_vale.txt", "Orrin Vale is a mountain village whose cheese, called vale-gold, is aged for nine months "
         "in limestone caves.", "For how many months is vale-gold cheese aged?", "nine"),
    Case("brannock_observatory.txt", "The Brannock Observatory stands on Mount Teel. Its largest telescope has a "
         "mirror 3.2 metres across and was first used in 1988.",
         "How wide is the mirror of the Brannock Observatory's largest telescope?", "3.2"),
    Case("ilsa_marwen.txt", "Ilsa Marwen is a composer from Corvath. Her best-known work is the opera The Glass "
         "Orchard, first staged in 2004.", "What is Ilsa Marwen's best-known work?", "Glass Orchard"),
    Case("pemberly_canal.txt", "The Pemberly Canal links the towns of Ashfold and Greywick. It has 31 locks and was "
         "opened to boats in 1804.", "How many locks does the Pemberly Canal have?", "31"),
    Case("dorvik_festival.md", "# Dorvik lantern festival\n\nEvery November the people of Dorvik float paper lanterns "
         "on Lake Mirrin. The festival began in 1650.", "On which lake are the Dorvik lanterns floated?", "Mirrin"),
    Case("quill_and_anchor.txt", "The Quill and Anchor is a bookshop in Port Selwyn owned by Tobias Renn. It keeps "
         "more than twelve thousand maps.", "Who owns the Quill and Anchor bookshop?", "Renn"),
    Case("sable_moth.txt", "The sable moth lives only in the Farrowmoor marshes. Its wings are dark brown with two "
         "copper spots, and it flies in July.", "Where does the sable moth live?", "Farrowmoor"),
    Case("hollin_bridge.txt", "Hollin Bridge crosses the Varn gorge. It is 160 metres long and was designed by the "
         "architect Mirela Sutt.", "Who designed Hollin Bridge?", "Sutt"),
    Case("ardent_rail.txt", "The Ardent Railway runs between Calder Cross and Emberton. Its steam engine, named The "
         "Wren, was built in 1899.", "What is the name of the Ardent Railway's steam engine?", "Wren"),
    Case("merrow_college.html", "<html><body><h1>Merrow College</h1><p>Merrow College was founded in 1723 by Lady "
         "Anwen Greave. Its library holds the Greave psalter.</p></body></html>",
         "Who founded Merrow College?", "Greave"),
    Case("tolland_tea.txt", "Tolland tea is grown on the slopes of Mount Ise. The leaves are smoked over pine for two "
         "days, which gives the tea its taste.", "What wood is Tolland tea smoked over?", "pine"),
    Case("cassio_rook.txt", "Cassio Rook is a cyclist from Lannet who won the Three Passes race in 2019 and again in "
         "2021.", "Which race did Cassio Rook win?", "Three Passes"),
    Case("weldon_mine.txt", "The Weldon mine produced tin until it closed in 1961. Its shaft reaches 410 metres below "
         "ground.", "When did the Weldon mine close?", "1961"),
    Case("fennick_island.txt", "Fennick Island has no cars. Visitors reach it by a ferry from Harth that sails twice "
         "a day.", "From which town does the ferry to Fennick Island sail?", "Harth"),
    Case("saltmarsh_choir.md", "# Saltmarsh Choir\n\nThe Saltmarsh Choir has 48 singers and is led by the conductor "
         "Bettina Oyle.", "Who leads the Saltmarsh Choir?", "Oyle"),
    Case("glimmer_cave.txt", "Glimmer Cave is lit by glow-worms. It was found in 1907 by two shepherds looking for "
         "a lost ewe.", "What lights Glimmer Cave?", "glow-worms"),
    Case("rowan_market.txt", "Rowan Market in Stellbridge is held every Thursday. Its best-known stall sells honey "
         "from the heather hives of Caddow.", "On which day is Rowan Market held?", "Thursday"),
    Case("halmen_clock.txt", "The clock tower of Halmen has a clock with four faces and a bell named Great Ysolde, "
         "cast in 1702.", "What is the name of the bell in the clock tower of Halmen?", "Ysolde"),
    Case("verity_lane.txt", "Verity Lane is a novelist whose first book, Salt in the Wind, sold in forty countries.",
         "What was the title of Verity Lane's first book?", "Salt in the Wind"),
    Case("nettlebeck_school.txt", "Nettlebeck School teaches its pupils to sail. Each spring they race small boats "
         "across Tarn Water.", "Where do Nettlebeck pupils race their boats?", "Tarn Water"),
    Case("corran_dam.txt", "The Corran Dam holds back the Esk reservoir and makes electricity for 40,000 homes.",
         "How many homes does the Corran Dam make electricity for?", "40,000"),
    Case("amberleigh_garden.txt", "Amberleigh Garden is famous for its black tulips, planted by the gardener Hugo "
         "Penrose in 1950.", "Which flowers is Amberleigh Garden famous for?", "tulips"),
    Case("sorrel_fox.txt", "The Sorrel Fox is an inn on the road to Wexmoor. Its cook, Agnes Hale, makes a pie of "
         "venison and juniper.", "Who is the cook at the Sorrel Fox inn?", "Hale"),
    Case("teller_peak.txt", "Teller Peak is 2,946 metres high. It was first climbed in 1865 by the guide Anselm Rusk.",
         "Who first climbed Teller Peak?", "Rusk"),
    Case("lumen_radio.txt", "Lumen Radio broadcasts from the town of Carrow on 97.4 megahertz. Its morning show is "
         "hosted by Dara Finch.", "On which frequency does Lumen Radio broadcast?", "97.4"),
    Case("brisk_ferries.txt", "Brisk Ferries has six boats, each named after a seabird. The largest is the "
         "Shearwater.", "What is the largest boat of Brisk Ferries called?", "Shearwater"),
    Case("wyndham_prize.txt", "The Wyndham Prize is given each year to the best young painter of Elsmere. The prize "
         "is a silver brush.", "What is the Wyndham Prize?", "silver brush"),
)


def write_cases(folder: Path) -> list[Path]:
    """The documents as files in `folder` (text, Markdown and HTML, as their names say)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for case in CASES:
        path = folder / case.file
        path.write_text(case.text)
        paths.append(path)
    return paths


def recall(ranked: list[list[str]], k: int) -> float:
    """The share of questions whose own document is among the first `k` documents found (one list a case)."""
    hits = sum(case.file in found[:k] for case, found in zip(CASES, ranked))
    return hits / len(CASES)
