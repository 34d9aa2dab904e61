"""Fixed lists for the demo municipality: names, places, organisations and paper templates.

Everything here is fictional except the town's geography (place names, the town hall's address).
The generator draws from these lists with ``random.Random(seed)`` only, so a seed always gives the
same town.
"""

from __future__ import annotations

from dataclasses import dataclass

TOWN = "Hennef (Sieg)"

GIVEN_FEMALE = [
    "Anna",
    "Andrea",
    "Angelika",
    "Anja",
    "Barbara",
    "Birgit",
    "Brigitte",
    "Christiane",
    "Claudia",
    "Daniela",
    "Doris",
    "Elke",
    "Eva",
    "Franziska",
    "Gabriele",
    "Heike",
    "Ines",
    "Jana",
    "Julia",
    "Karin",
    "Katharina",
    "Kerstin",
    "Laura",
    "Lea",
    "Lisa",
    "Maria",
    "Marion",
    "Martina",
    "Monika",
    "Nadine",
    "Nicole",
    "Petra",
    "Renate",
    "Sabine",
    "Sandra",
    "Silke",
    "Simone",
    "Sophie",
    "Stefanie",
    "Susanne",
    "Tanja",
    "Ulrike",
    "Ursula",
    "Vanessa",
    "Yvonne",
]
GIVEN_MALE = [
    "Alexander",
    "Andreas",
    "Bernd",
    "Christian",
    "Christoph",
    "Daniel",
    "Dieter",
    "Dirk",
    "Felix",
    "Frank",
    "Georg",
    "Günter",
    "Hans-Peter",
    "Heinz",
    "Helmut",
    "Jan",
    "Jens",
    "Joachim",
    "Jörg",
    "Jürgen",
    "Karl-Heinz",
    "Klaus",
    "Lukas",
    "Manfred",
    "Markus",
    "Martin",
    "Matthias",
    "Michael",
    "Norbert",
    "Oliver",
    "Patrick",
    "Peter",
    "Ralf",
    "Reinhard",
    "Stefan",
    "Sven",
    "Thomas",
    "Thorsten",
    "Tobias",
    "Ulrich",
    "Uwe",
    "Volker",
    "Werner",
    "Wolfgang",
]
FAMILY = [
    "Adams",
    "Bauer",
    "Becker",
    "Berger",
    "Bergmann",
    "Brück",
    "Busch",
    "Dahm",
    "Decker",
    "Dreesen",
    "Engels",
    "Esser",
    "Fischer",
    "Franken",
    "Fuchs",
    "Giesen",
    "Görres",
    "Hagen",
    "Hahn",
    "Heinen",
    "Hermanns",
    "Hoffmann",
    "Hövel",
    "Jansen",
    "Kemp",
    "Klein",
    "Knecht",
    "Koch",
    "Krämer",
    "Krause",
    "Kurth",
    "Lange",
    "Lehmann",
    "Lindlar",
    "Löhr",
    "Mertens",
    "Meurer",
    "Müller",
    "Neuhaus",
    "Nolden",
    "Oberdörster",
    "Over",
    "Pütz",
    "Quadt",
    "Rauch",
    "Reuter",
    "Richarz",
    "Roth",
    "Schäfer",
    "Schmitz",
    "Schneider",
    "Scholl",
    "Schumacher",
    "Schwarz",
    "Sieberts",
    "Stommel",
    "Thelen",
    "Ulrich",
    "Vogt",
    "Wagner",
    "Weber",
    "Weiß",
    "Wingen",
    "Wolff",
    "Zimmermann",
    "Zöller",
]

PLACES = [
    "Hennef-Mitte",
    "Uckerath",
    "Söven",
    "Lanzenbach",
    "Allner",
    "Bödingen",
    "Stadt Blankenberg",
    "Geistingen",
    "Happerschoß",
    "Warth",
    "Weldergoven",
    "Dondorf",
    "Lichtenberg",
]
STREETS = [
    "Frankfurter Straße",
    "Bonner Straße",
    "Siegburger Straße",
    "Kölner Straße",
    "Bahnhofstraße",
    "Beethovenstraße",
    "Wippenhohner Straße",
    "Westerwaldstraße",
    "Dickstraße",
    "Mittelstraße",
    "Hanftalstraße",
    "Marktstraße",
    "Frankfurter Straße",
    "Löhestraße",
    "Kurhausstraße",
]
ROADS = ["L 333", "L 125", "L 268", "L 331", "K 29", "K 33", "B 8", "B 478"]
SCHOOLS = [
    "Grundschule Uckerath",
    "Grundschule Söven",
    "Gemeinschaftsgrundschule Hennef-Mitte",
    "Grundschule Happerschoß",
    "Grundschule Bödingen",
    "Gesamtschule Meiersheide",
    "Städtisches Gymnasium",
    "Grundschule Warth",
    "Grundschule Lichtenberg",
]
KITAS = [
    "Kita Sonnenschein",
    "Kita Regenbogen",
    "Kita Siegaue",
    "Kita Pusteblume",
    "Kita Löwenzahn",
    "Kita Sternschnuppe",
    "Familienzentrum Am Markt",
]
SPORTS = [
    "Sportplatz Uckerath",
    "Sportanlage Geistingen",
    "Sporthalle Meiersheide",
    "Sportplatz Söven",
    "Lehrschwimmbecken Hennef-Mitte",
    "Kunstrasenplatz Happerschoß",
]

# (short, name, genitive name for "Sitzung des …", keywords of its topics, decides itself)
COMMITTEES = [
    ("HFA", "Haupt- und Finanzausschuss", "Haupt- und Finanzausschusses", "finanzen"),
    (
        "StEPV",
        "Ausschuss für Stadtentwicklung, Planung und Verkehr",
        "Ausschusses für Stadtentwicklung, Planung und Verkehr",
        "planung",
    ),
    ("UKA", "Umwelt- und Klimaschutzausschuss", "Umwelt- und Klimaschutzausschusses", "umwelt"),
    ("SchuSpo", "Schul- und Sportausschuss", "Schul- und Sportausschusses", "schule"),
    ("JHA", "Jugendhilfeausschuss", "Jugendhilfeausschusses", "jugend"),
    (
        "ASGI",
        "Ausschuss für Soziales, Generationen und Integration",
        "Ausschusses für Soziales, Generationen und Integration",
        "soziales",
    ),
    ("BVA", "Bau- und Vergabeausschuss", "Bau- und Vergabeausschusses", "bau"),
    ("RPA", "Rechnungsprüfungsausschuss", "Rechnungsprüfungsausschusses", "pruefung"),
]
#: The committees of the "small" scale (by short name).
SMALL_COMMITTEES = ["HFA", "StEPV", "BVA"]

# (short name, full name, seats in the current term of 51 (the mayor sits without a faction))
FACTIONS = [
    ("CDU", "CDU-Fraktion im Rat der Stadt Hennef (Sieg)", 18),
    ("SPD", "SPD-Fraktion im Rat der Stadt Hennef (Sieg)", 11),
    ("GRÜNE", "Fraktion BÜNDNIS 90/DIE GRÜNEN im Rat der Stadt Hennef (Sieg)", 11),
    ("FDP", "FDP-Fraktion im Rat der Stadt Hennef (Sieg)", 4),
    ("UWG", "UWG-Fraktion im Rat der Stadt Hennef (Sieg)", 4),
    ("Die Linke", "Fraktion Die Linke im Rat der Stadt Hennef (Sieg)", 3),
]

# (key, name, short name, head's title)
DEPARTMENTS = [
    ("zentral", "Amt für Zentrale Dienste", "Amt 10"),
    ("finanzen", "Amt für Finanzen", "Amt 20"),
    ("ordnung", "Amt für Sicherheit und Ordnung", "Amt 32"),
    ("schule", "Amt für Schule, Sport und Kultur", "Amt 40"),
    ("jugend", "Amt für Kinder, Jugend und Familie", "Amt 51"),
    ("soziales", "Amt für Soziales und Integration", "Amt 50"),
    ("planung", "Amt für Stadtplanung und Entwicklung", "Amt 61"),
    ("bau", "Amt für Hochbau und Gebäudewirtschaft", "Amt 65"),
    ("tiefbau", "Amt für Tiefbau und Verkehr", "Amt 66"),
    ("umwelt", "Amt für Umwelt und Klimaschutz", "Amt 70"),
    ("pruefung", "Rechnungsprüfungsamt", "Amt 14"),
]

#: Which committee prepares the topics of a department.
DEPARTMENT_COMMITTEE = {
    "zentral": "HFA",
    "finanzen": "HFA",
    "ordnung": "HFA",
    "schule": "SchuSpo",
    "jugend": "JHA",
    "soziales": "ASGI",
    "planung": "StEPV",
    "bau": "BVA",
    "tiefbau": "StEPV",
    "umwelt": "UKA",
    "pruefung": "RPA",
}


@dataclass(frozen=True)
class Topic:
    department: str
    title: str
    #: Sentences of the "Sachverhalt"; {place}, {street}, … are filled in.
    facts: tuple[str, ...]
    proposal: str
    #: Cost range in euro (0: none).
    cost: tuple[int, int] = (0, 0)
    #: Does the council decide at the end (else the committee decides)?
    council: bool = True


TOPICS: list[Topic] = [
    Topic(
        "planung",
        "Bebauungsplan Nr. {nr} „{place}, {street}“ – Aufstellungsbeschluss",
        (
            "Für den Bereich an der {street} in {place} besteht ein erheblicher Bedarf an Wohnbauflächen.",
            "Das Plangebiet umfasst eine Fläche von rund {ha} Hektar und ist derzeit überwiegend "
            "landwirtschaftlich genutzt.",
            "Ziel der Planung ist ein durchmischtes Wohngebiet mit Einfamilien-, Doppel- und "
            "Mehrfamilienhäusern.",
            "Die frühzeitige Beteiligung der Öffentlichkeit soll im Rahmen einer Bürgerversammlung in "
            "{place} erfolgen.",
        ),
        "Der Rat beschließt die Aufstellung des Bebauungsplanes Nr. {nr} „{place}, {street}“ gemäß § 2 "
        "Abs. 1 BauGB.",
        (20000, 90000),
    ),
    Topic(
        "planung",
        "Bebauungsplan Nr. {nr} „{place}“ – Satzungsbeschluss",
        (
            "Die öffentliche Auslegung des Planentwurfs hat stattgefunden.",
            "Im Rahmen der Beteiligung sind {n} Stellungnahmen von Bürgerinnen und Bürgern eingegangen.",
            "Die Abwägung der Stellungnahmen ist der Anlage zu entnehmen.",
            "Die Belange des Artenschutzes wurden durch ein Fachgutachten geprüft.",
        ),
        "Der Rat beschließt den Bebauungsplan Nr. {nr} „{place}“ als Satzung gemäß § 10 Abs. 1 BauGB.",
        (0, 0),
    ),
    Topic(
        "planung",
        "{n}. Änderung des Flächennutzungsplanes im Bereich {place}",
        (
            "Die beabsichtigte Entwicklung in {place} ist aus dem wirksamen Flächennutzungsplan nicht "
            "entwickelt.",
            "Der Flächennutzungsplan soll daher im Parallelverfahren geändert werden.",
            "Die Bezirksregierung Köln hat die Anpassung an die Ziele der Raumordnung bestätigt.",
        ),
        "Der Rat beschließt die {n}. Änderung des Flächennutzungsplanes im Bereich {place}.",
        (5000, 30000),
    ),
    Topic(
        "tiefbau",
        "Radweg entlang der {road} zwischen {place} und {place2}",
        (
            "Zwischen {place} und {place2} fehlt entlang der {road} ein sicherer Radweg.",
            "Der Landesbetrieb Straßenbau NRW hat eine Förderung von bis zu 75 Prozent in Aussicht gestellt.",
            "Die Planung sieht einen kombinierten Geh- und Radweg mit einer Breite von 2,50 Metern vor.",
            "Der Grunderwerb ist in Teilen bereits gesichert.",
        ),
        "Der Ausschuss beauftragt die Verwaltung, die Entwurfsplanung für den Radweg entlang der {road} "
        "fortzuführen.",
        (400000, 2500000),
    ),
    Topic(
        "tiefbau",
        "Sanierung der {street} in {place}",
        (
            "Die Fahrbahn der {street} in {place} weist erhebliche Schäden auf.",
            "Im Zuge der Maßnahme sollen auch der Kanal und die Straßenbeleuchtung erneuert werden.",
            "Die Anliegerinnen und Anlieger werden in einer Informationsveranstaltung beteiligt.",
        ),
        "Der Ausschuss stimmt der Sanierung der {street} in {place} zu.",
        (250000, 1800000),
        False,
    ),
    Topic(
        "tiefbau",
        "Verkehrsberuhigung in der {street}, {place}",
        (
            "Aus der Anwohnerschaft der {street} wird seit längerem über zu hohe Geschwindigkeiten geklagt.",
            "Eine Verkehrszählung ergab eine durchschnittliche Geschwindigkeit von {n} km/h.",
            "Vorgeschlagen werden Fahrbahnverengungen und eine Tempo-30-Regelung.",
        ),
        "Der Ausschuss beschließt die vorgeschlagenen Maßnahmen zur Verkehrsberuhigung in der {street}.",
        (15000, 120000),
        False,
    ),
    Topic(
        "tiefbau",
        "Mobilitätskonzept für die Stadt Hennef (Sieg) – Fortschreibung {year}",
        (
            "Das Mobilitätskonzept aus dem Jahr 2019 soll fortgeschrieben werden.",
            "Schwerpunkte sind der Radverkehr, der Busverkehr in den Höhenorten und die Anbindung an die "
            "S-Bahn.",
            "Eine Online-Beteiligung ergab {n} Hinweise aus der Bürgerschaft.",
        ),
        "Der Rat beschließt die Fortschreibung des Mobilitätskonzeptes.",
        (60000, 150000),
    ),
    Topic(
        "schule",
        "Sanierung der {school}",
        (
            "Die {school} wurde in den 1970er Jahren errichtet und ist sanierungsbedürftig.",
            "Dach, Fenster und die Heizungsanlage entsprechen nicht mehr dem Stand der Technik.",
            "Die Maßnahme soll in drei Bauabschnitten während des laufenden Schulbetriebs erfolgen.",
            "Fördermittel aus dem Programm „Gute Schule“ werden beantragt.",
        ),
        "Der Rat beschließt die Sanierung der {school} auf Grundlage der vorgelegten Kostenschätzung.",
        (800000, 6500000),
    ),
    Topic(
        "schule",
        "Erweiterung der Offenen Ganztagsschule an der {school}",
        (
            "Ab dem Schuljahr 2026/27 besteht ein Rechtsanspruch auf Ganztagsbetreuung im Grundschulalter.",
            "An der {school} fehlen derzeit {n} Betreuungsplätze.",
            "Vorgeschlagen wird ein Anbau in Modulbauweise.",
        ),
        "Der Rat beschließt die Erweiterung der Offenen Ganztagsschule an der {school}.",
        (500000, 2500000),
    ),
    Topic(
        "schule",
        "Schulentwicklungsplan {year} bis {year2}",
        (
            "Die Schülerzahlen in {place} und {place2} steigen deutlich.",
            "Der Schulentwicklungsplan prognostiziert bis {year2} einen zusätzlichen Bedarf von {n} Zügen.",
            "Die Schulleitungen wurden beteiligt.",
        ),
        "Der Rat beschließt den Schulentwicklungsplan {year} bis {year2}.",
        (0, 0),
    ),
    Topic(
        "schule",
        "Erneuerung des Kunstrasens auf dem {sport}",
        (
            "Der Kunstrasen auf dem {sport} hat das Ende seiner Nutzungsdauer erreicht.",
            "Künftig soll ein mikroplastikfreies Füllmaterial verwendet werden.",
            "Die Vereine haben eine Eigenleistung zugesagt.",
        ),
        "Der Ausschuss beschließt die Erneuerung des Kunstrasens auf dem {sport}.",
        (300000, 700000),
        False,
    ),
    Topic(
        "schule",
        "Digitalisierung der Schulen – Medienentwicklungsplan {year}",
        (
            "Der Medienentwicklungsplan beschreibt die Ausstattung der Schulen mit digitalen Endgeräten.",
            "Alle Schulen sollen bis Ende {year2} an das Glasfasernetz angeschlossen sein.",
            "Für die Wartung der Geräte wird zusätzliches Personal benötigt.",
        ),
        "Der Rat beschließt den Medienentwicklungsplan {year}.",
        (200000, 900000),
    ),
    Topic(
        "jugend",
        "Kita-Neubau in {place}",
        (
            "In {place} fehlen nach der Kindergartenbedarfsplanung {n} Betreuungsplätze.",
            "Auf dem städtischen Grundstück an der {street} kann eine sechsgruppige "
            "Kindertageseinrichtung entstehen.",
            "Ein freier Träger hat Interesse an der Betriebsträgerschaft bekundet.",
        ),
        "Der Rat beschließt den Neubau einer Kindertageseinrichtung in {place}.",
        (2500000, 5500000),
    ),
    Topic(
        "jugend",
        "Kindergartenbedarfsplanung {year}/{year2}",
        (
            "Die Zahl der Kinder unter drei Jahren ist im vergangenen Jahr erneut gestiegen.",
            "Die Versorgungsquote liegt derzeit bei {n} Prozent.",
            "Die {kita} wird um eine Gruppe erweitert.",
        ),
        "Der Jugendhilfeausschuss beschließt die Kindergartenbedarfsplanung {year}/{year2}.",
        (0, 0),
        False,
    ),
    Topic(
        "jugend",
        "Offene Kinder- und Jugendarbeit in {place}",
        (
            "Der Jugendtreff in {place} wird sehr gut angenommen.",
            "Die Öffnungszeiten sollen auf fünf Tage pro Woche ausgeweitet werden.",
            "Hierfür ist eine zusätzliche halbe Stelle erforderlich.",
        ),
        "Der Jugendhilfeausschuss stimmt der Ausweitung der offenen Jugendarbeit in {place} zu.",
        (30000, 60000),
        False,
    ),
    Topic(
        "soziales",
        "Unterbringung von Geflüchteten – Sachstand und Planung",
        (
            "Der Stadt Hennef (Sieg) wurden im laufenden Jahr {n} Personen zugewiesen.",
            "Die Unterkunft an der {street} ist nahezu vollständig belegt.",
            "Die Verwaltung prüft weitere Standorte in {place} und {place2}.",
        ),
        "Der Ausschuss nimmt den Bericht zur Kenntnis.",
        (0, 0),
        False,
    ),
    Topic(
        "soziales",
        "Seniorengerechtes Wohnen in {place}",
        (
            "Der Anteil der über 65-Jährigen wird in {place} bis 2035 deutlich steigen.",
            "Ein Investor plant an der {street} ein Wohnprojekt mit {n} barrierefreien Wohnungen.",
            "Die Stadt kann das Projekt durch die Vergabe eines Erbbaurechts unterstützen.",
        ),
        "Der Rat unterstützt das Projekt für seniorengerechtes Wohnen in {place}.",
        (0, 0),
    ),
    Topic(
        "soziales",
        "Integrationskonzept der Stadt Hennef (Sieg) – Fortschreibung",
        (
            "Das Integrationskonzept wurde mit Vereinen, Kirchen und Migrantenorganisationen überarbeitet.",
            "Schwerpunkte sind Sprache, Arbeit, Wohnen und Teilhabe.",
            "An den Workshops nahmen {n} Personen teil.",
        ),
        "Der Rat beschließt die Fortschreibung des Integrationskonzeptes.",
        (10000, 40000),
    ),
    Topic(
        "bau",
        "Neubau der Feuerwache {place}",
        (
            "Die Feuerwache in {place} entspricht nicht mehr den Anforderungen des Brandschutzbedarfsplans.",
            "Ein Neubau an der {street} ermöglicht die Einhaltung der Hilfsfristen.",
            "Die Planung wurde mit der Freiwilligen Feuerwehr abgestimmt.",
        ),
        "Der Rat beschließt den Neubau der Feuerwache {place}.",
        (2000000, 7000000),
    ),
    Topic(
        "bau",
        "Energetische Sanierung des Rathauses – {n}. Bauabschnitt",
        (
            "Der Energieverbrauch des Rathauses soll um rund 40 Prozent gesenkt werden.",
            "Im {n}. Bauabschnitt werden die Fenster und die Fassadendämmung erneuert.",
            "Eine Förderung aus Bundesmitteln wurde bewilligt.",
        ),
        "Der Ausschuss stimmt der Durchführung des {n}. Bauabschnittes zu.",
        (400000, 1500000),
        False,
    ),
    Topic(
        "bau",
        "Photovoltaikanlagen auf städtischen Dächern",
        (
            "Die Verwaltung hat {n} städtische Gebäude auf ihre Eignung für Photovoltaik untersucht.",
            "Besonders geeignet sind die Dächer der {school} und des {sport}.",
            "Der erzeugte Strom soll überwiegend selbst genutzt werden.",
        ),
        "Der Ausschuss beauftragt die Verwaltung mit der Ausschreibung der Photovoltaikanlagen.",
        (150000, 600000),
        False,
    ),
    Topic(
        "umwelt",
        "Klimaschutzkonzept – Sachstandsbericht {year}",
        (
            "Die Stadt Hennef (Sieg) hat sich das Ziel der Klimaneutralität bis 2040 gesetzt.",
            "Von {n} Maßnahmen des Klimaschutzkonzeptes sind viele bereits umgesetzt oder begonnen.",
            "Die CO2-Emissionen der städtischen Gebäude sind seit 2019 um ein Viertel gesunken.",
        ),
        "Der Ausschuss nimmt den Sachstandsbericht zur Kenntnis.",
        (0, 0),
        False,
    ),
    Topic(
        "umwelt",
        "Hochwasserschutz an der Sieg in {place}",
        (
            "Das Hochwasser im Juli 2021 hat die Verwundbarkeit von {place} gezeigt.",
            "Die Starkregengefahrenkarte weist entlang der {street} besondere Risiken aus.",
            "Vorgeschlagen werden Rückhaltebecken und ein Frühwarnsystem.",
        ),
        "Der Rat beschließt das Hochwasserschutzkonzept für {place}.",
        (300000, 3000000),
    ),
    Topic(
        "umwelt",
        "Baumpflanzungen im Stadtgebiet – Programm {year}",
        (
            "Im Stadtgebiet sollen in diesem Jahr {n} Bäume gepflanzt werden.",
            "Schwerpunkte sind {place} und {place2}.",
            "Die Bürgerinnen und Bürger können Baumpatenschaften übernehmen.",
        ),
        "Der Ausschuss beschließt das Baumpflanzprogramm {year}.",
        (50000, 200000),
        False,
    ),
    Topic(
        "umwelt",
        "Renaturierung des Hanfbachs bei {place}",
        (
            "Der Hanfbach ist im Bereich {place} über weite Strecken begradigt.",
            "Die Renaturierung verbessert den ökologischen Zustand und den Hochwasserschutz.",
            "Das Land fördert die Maßnahme mit bis zu 80 Prozent.",
        ),
        "Der Ausschuss stimmt der Renaturierung des Hanfbachs bei {place} zu.",
        (200000, 900000),
        False,
    ),
    Topic(
        "finanzen",
        "Haushaltssatzung {year2} mit Haushaltsplan",
        (
            "Der Entwurf des Haushaltsplans {year2} weist einen Fehlbetrag von rund {mio} Millionen Euro "
            "aus.",
            "Die Ausgleichsrücklage wird dadurch weiter in Anspruch genommen.",
            "Die Hebesätze der Grundsteuer und der Gewerbesteuer bleiben unverändert.",
            "Größte Investitionen sind Schulen, Kitas und der Breitbandausbau.",
        ),
        "Der Rat beschließt die Haushaltssatzung {year2} mit ihren Anlagen.",
        (0, 0),
    ),
    Topic(
        "finanzen",
        "Jahresabschluss {year0}",
        (
            "Der Jahresabschluss {year0} schließt mit einem Jahresergebnis von rund {mio} Millionen Euro ab.",
            "Der Rechnungsprüfungsausschuss hat den Abschluss geprüft.",
            "Dem Bürgermeister wird Entlastung erteilt.",
        ),
        "Der Rat stellt den Jahresabschluss {year0} fest und erteilt dem Bürgermeister Entlastung.",
        (0, 0),
    ),
    Topic(
        "finanzen",
        "Überplanmäßige Aufwendungen für {what}",
        (
            "Für {what} reichen die im Haushalt veranschlagten Mittel nicht aus.",
            "Die Mehraufwendungen von {eur} Euro sind unabweisbar.",
            "Die Deckung erfolgt durch Minderaufwendungen bei anderen Produkten.",
        ),
        "Der Rat stimmt den überplanmäßigen Aufwendungen zu.",
        (50000, 400000),
    ),
    Topic(
        "finanzen",
        "Änderung der Gebührensatzung für {fee}",
        (
            "Die Gebühren für {fee} sind zuletzt vor vier Jahren angepasst worden.",
            "Die Gebührenkalkulation ergibt eine Erhöhung um {n} Prozent.",
            "Die Satzung soll zum 1. Januar in Kraft treten.",
        ),
        "Der Rat beschließt die Änderung der Gebührensatzung für {fee}.",
        (0, 0),
    ),
    Topic(
        "zentral",
        "Breitbandausbau in {place} und {place2}",
        (
            "In {place} und {place2} sind noch zahlreiche Haushalte nicht mit Glasfaser versorgt.",
            "Im Rahmen des Bundesförderprogramms Gigabit werden {n} Adressen erschlossen.",
            "Der Ausbau soll bis Ende {year2} abgeschlossen sein.",
        ),
        "Der Rat beschließt die Teilnahme am Förderprogramm für den Breitbandausbau.",
        (300000, 2000000),
    ),
    Topic(
        "zentral",
        "Digitale Ratsarbeit – Einführung eines Ratsinformationssystems",
        (
            "Die Ratsmitglieder sollen Sitzungsunterlagen künftig ausschließlich digital erhalten.",
            "Die Sitzungen des Rates sollen live im Internet übertragen werden.",
            "Die Einwilligung der Rednerinnen und Redner wird vorab eingeholt.",
        ),
        "Der Rat beschließt die Einführung des Ratsinformationssystems und die Übertragung der "
        "Ratssitzungen.",
        (20000, 80000),
    ),
    Topic(
        "zentral",
        "Änderung der Hauptsatzung der Stadt Hennef (Sieg)",
        (
            "Aufgrund geänderter Vorschriften der Gemeindeordnung ist die Hauptsatzung anzupassen.",
            "Die Änderungen betreffen die Zuständigkeiten der Ausschüsse und die Bekanntmachungen.",
            "Öffentliche Bekanntmachungen sollen künftig im Internet erfolgen.",
        ),
        "Der Rat beschließt die Änderung der Hauptsatzung.",
        (0, 0),
    ),
    Topic(
        "ordnung",
        "Brandschutzbedarfsplan {year} bis {year2}",
        (
            "Der Brandschutzbedarfsplan ist alle fünf Jahre fortzuschreiben.",
            "Die Hilfsfrist wird in {place} nicht immer eingehalten.",
            "Die Freiwillige Feuerwehr hat {n} aktive Mitglieder.",
        ),
        "Der Rat beschließt den Brandschutzbedarfsplan {year} bis {year2}.",
        (0, 0),
    ),
    Topic(
        "ordnung",
        "Ordnungsbehördliche Verordnung über den Weihnachtsmarkt in {place}",
        (
            "Der Weihnachtsmarkt in {place} soll in diesem Jahr an drei Wochenenden stattfinden.",
            "Für die Sicherheit werden Zufahrtssperren an der {street} aufgestellt.",
            "Die Öffnungszeiten werden mit den Anwohnerinnen und Anwohnern abgestimmt.",
        ),
        "Der Ausschuss nimmt die Planungen zur Kenntnis.",
        (0, 0),
        False,
    ),
    Topic(
        "pruefung",
        "Prüfbericht des Rechnungsprüfungsamtes zu {what}",
        (
            "Das Rechnungsprüfungsamt hat {what} geprüft.",
            "Die Prüfung ergab {n} Feststellungen, die überwiegend bereits ausgeräumt sind.",
            "Die Verwaltung hat zu den Feststellungen Stellung genommen.",
        ),
        "Der Rechnungsprüfungsausschuss nimmt den Prüfbericht zur Kenntnis.",
        (0, 0),
        False,
    ),
]

WHAT = [
    "die Winterdienstleistungen",
    "die Unterhaltung der Grünflächen",
    "die Schülerbeförderung",
    "den Betrieb der Sporthallen",
    "die Energieversorgung der Schulen",
    "die Bauunterhaltung der Kitas",
    "die Beschaffung von Feuerwehrfahrzeugen",
    "die Digitalisierung der Verwaltung",
]
FEES = [
    "die Abfallentsorgung",
    "die Straßenreinigung",
    "die Benutzung der Friedhöfe",
    "die Abwasserbeseitigung",
    "die Offene Ganztagsschule",
    "die Musikschule",
]

#: Anträge of the factions: title templates and their request.
MOTIONS = [
    (
        "Einrichtung eines Bürgerbusses für {place}",
        "die Einrichtung eines ehrenamtlich betriebenen Bürgerbusses für {place} zu prüfen",
    ),
    ("Tempo 30 vor der {school}", "vor der {school} eine Tempo-30-Zone einzurichten"),
    ("Mehr Sitzbänke in {place}", "in {place} zusätzliche Sitzbänke entlang der {street} aufzustellen"),
    ("Kostenloses WLAN in der Innenstadt", "ein kostenloses WLAN-Angebot in Hennef-Mitte zu schaffen"),
    (
        "Beleuchtung des Radweges nach {place}",
        "den Radweg nach {place} mit einer solarbetriebenen Beleuchtung auszustatten",
    ),
    ("Trinkwasserbrunnen in {place}", "in {place} einen öffentlichen Trinkwasserbrunnen zu errichten"),
    (
        "Prüfung eines Jugendparlaments",
        "ein Konzept für ein Jugendparlament der Stadt Hennef (Sieg) vorzulegen",
    ),
    ("Blühwiesen statt Rasenflächen", "städtische Rasenflächen in {place} in Blühwiesen umzuwandeln"),
    (
        "Sanierung der Toilettenanlagen an der {school}",
        "die Toilettenanlagen der {school} vorrangig zu sanieren",
    ),
    (
        "Einführung eines Klimachecks für Ratsvorlagen",
        "für alle Beschlussvorlagen eine Prüfung der Klimaauswirkungen einzuführen",
    ),
    (
        "Zebrastreifen an der {street} in {place}",
        "an der {street} in {place} einen Fußgängerüberweg anzulegen",
    ),
    ("Erhalt des Freibads", "ein Konzept für den langfristigen Erhalt des Freibads vorzulegen"),
    ("Hundewiese in {place}", "in {place} eine eingezäunte Hundefreilaufwiese einzurichten"),
    ("Mitfahrbänke in den Höhenorten", "in {place} und {place2} Mitfahrbänke aufzustellen"),
]

#: Anfragen of the factions.
QUESTIONS = [
    "Anfrage zum Sachstand des Kita-Ausbaus in {place}",
    "Anfrage zur Unterrichtsversorgung an der {school}",
    "Anfrage zu Parkverstößen in der {street}",
    "Anfrage zu den Baukosten der Feuerwache {place}",
    "Anfrage zum Zustand der Brücken im Stadtgebiet",
    "Anfrage zur Wartezeit im Bürgerbüro",
    "Anfrage zu Leerständen in der Frankfurter Straße",
    "Anfrage zum Glasfaserausbau in {place}",
    "Anfrage zur Busanbindung von {place}",
    "Anfrage zu den Energiekosten der städtischen Gebäude",
]

#: Mitteilungsvorlagen of the administration (department, title).
NOTICES = [
    ("planung", "Sachstand der Bauleitplanverfahren"),
    ("tiefbau", "Baustellenübersicht {year}"),
    ("schule", "Anmeldezahlen an den weiterführenden Schulen"),
    ("jugend", "Bericht über die Ferienbetreuung {year}"),
    ("soziales", "Bericht des Integrationsrates"),
    ("finanzen", "Bericht zur Haushaltsentwicklung zum 30. September"),
    ("umwelt", "Ergebnisse der Luftschadstoffmessungen in {place}"),
    ("bau", "Sachstand der Hochbaumaßnahmen"),
    ("zentral", "Ergebnis der Bürgerbefragung zur Innenstadt"),
    ("ordnung", "Jahresbericht der Freiwilligen Feuerwehr"),
    ("pruefung", "Prüfungsplan des Rechnungsprüfungsamtes {year}"),
]

#: Non-public business (title template, department).
CONFIDENTIAL = [
    ("Grundstücksangelegenheiten: Verkauf einer Teilfläche in {place}", "finanzen"),
    ("Grundstücksangelegenheiten: Erwerb einer Fläche an der {street}", "finanzen"),
    ("Vergabe: {school} – Los {n} Dachdeckerarbeiten", "bau"),
    ("Vergabe: Kita-Neubau in {place} – Rohbauarbeiten", "bau"),
    ("Vergabe: Winterdienst im Stadtgebiet {year}/{year2}", "tiefbau"),
    ("Vergabe: Lieferung von IT-Endgeräten für die Schulen", "schule"),
    ("Personalangelegenheiten: Besetzung der Stelle der Amtsleitung {dept}", "zentral"),
    ("Personalangelegenheiten: Stellenplanänderung", "zentral"),
    ("Stundung von Gewerbesteuerforderungen", "finanzen"),
    ("Vertragsangelegenheiten: Erbbaurechtsvertrag in {place}", "finanzen"),
]

STANDING_OPEN = [
    "Eröffnung und Begrüßung",
    "Feststellung der ordnungsgemäßen Einladung und der Beschlussfähigkeit",
    "Einwohnerfragestunde",
    "Genehmigung der Niederschrift über die letzte Sitzung",
    "Mitteilungen der Verwaltung",
]
STANDING_PUBLIC_CLOSE = "Anfragen und Mitteilungen der Ratsmitglieder"
STANDING_NONPUBLIC_CLOSE = "Mitteilungen und Anfragen (nichtöffentlich)"
