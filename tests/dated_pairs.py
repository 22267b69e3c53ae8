"""The same story on two days with a changed figure, written for measuring dated answers (``tests/test_timeline.py``).

Each pair: the older and the newer article (title, date, text), a question about the latest state with the
figure each article gives, and a question naming the older article's day, answered from it.
"""

from __future__ import annotations

from typing import NamedTuple


class DatedPair(NamedTuple):
    older: tuple[str, str, str]
    newer: tuple[str, str, str]
    latest_question: str
    older_figure: str
    newer_figure: str
    named_day_question: str


PAIRS = [
    DatedPair(
        ("Police raid homes across France after Paris attacks", "2015-11-16",
         "French police carried out 168 raids across the country overnight, Interior Minister Bernard Cazeneuve "
         "said on Monday. Officers detained 23 people and seized 31 weapons, including a rocket launcher. The "
         "raids targeted people suspected of links to radical Islamist networks."),
        ("France widens raids after Paris attacks", "2015-11-17",
         "French police have now carried out 296 raids across the country since the state of emergency was "
         "declared, Interior Minister Bernard Cazeneuve said on Tuesday. Officers have detained 40 people. "
         "The raids targeted people suspected of links to radical Islamist networks."),
        "How many raids have French police carried out?", "168", "296",
        "How many raids did French police carry out on Monday?",
    ),
    DatedPair(
        ("Hurricane Milton tears across Florida", "2024-10-10",
         "Hurricane Milton has killed at least 10 people in Florida, officials said on Thursday. The storm "
         "made landfall near Siesta Key as a Category 3 hurricane. More than three million homes lost power."),
        ("Milton death toll rises as Florida cleans up", "2024-10-12",
         "The death toll from Hurricane Milton has risen to 24 people in Florida, officials said on Saturday. "
         "Crews are restoring power to the homes still without it. The storm made landfall near Siesta Key."),
        "How many people has Hurricane Milton killed in Florida?", "at least 10", "24",
        "How many people had Hurricane Milton killed by Thursday?",
    ),
    DatedPair(
        ("Rescuers search rubble after Moroccan earthquake", "2023-09-09",
         "Rescue teams have pulled 87 survivors from the rubble in the Atlas mountains, Morocco's interior "
         "ministry said on Saturday. The magnitude 6.8 earthquake struck late on Friday. Villages near "
         "Marrakesh were among the worst hit."),
        ("Hopes fade in Moroccan quake zone", "2023-09-11",
         "Rescue teams have pulled 412 survivors from the rubble in the Atlas mountains, Morocco's interior "
         "ministry said on Monday. Aid convoys struggled to reach remote villages. The earthquake struck late on Friday."),
        "How many survivors have rescue teams pulled from the rubble in Morocco?", "87", "412",
        "How many survivors had rescue teams pulled from the rubble in Morocco on Saturday?",
    ),
    DatedPair(
        ("Dock workers walk out in Rotterdam", "2025-03-04",
         "About 3,000 dock workers went on strike in Rotterdam on Tuesday, the union said. They are demanding "
         "a pay rise of 8 percent. Ships queued outside Europe's largest port."),
        ("Rotterdam strike spreads", "2025-03-06",
         "About 5,500 dock workers are now on strike in Rotterdam, the union said on Thursday. They are "
         "demanding a pay rise of 8 percent. Dozens of ships are waiting to unload."),
        "How many dock workers are on strike in Rotterdam?", "About 3,000", "About 5,500",
        "How many dock workers went on strike in Rotterdam on Tuesday?",
    ),
    DatedPair(
        ("Wildfire forces evacuations near Athens", "2024-08-11",
         "A wildfire north of Athens has burned 2,500 hectares of forest, the fire brigade said on Sunday. "
         "Thousands of residents were told to leave their homes. Strong winds fanned the flames."),
        ("Athens wildfire still burning", "2024-08-13",
         "The wildfire north of Athens has burned 10,000 hectares of forest, the fire brigade said on Tuesday. "
         "Firefighters from Italy and France joined the effort. Some residents returned to their homes."),
        "How many hectares has the wildfire north of Athens burned?", "2,500", "10,000",
        "How many hectares had the wildfire north of Athens burned on Sunday?",
    ),
    DatedPair(
        ("Protesters arrested in Tbilisi", "2024-12-01",
         "Georgian police arrested 107 protesters in Tbilisi overnight, the interior ministry said on Sunday. "
         "Demonstrators had gathered outside parliament for a third night. Police used water cannon."),
        ("Tbilisi protests continue", "2024-12-04",
         "Georgian police have arrested 293 protesters in Tbilisi since the demonstrations began, the interior "
         "ministry said on Wednesday. Demonstrators gathered outside parliament again."),
        "How many protesters have police arrested in Tbilisi?", "107", "293",
        "How many protesters did police arrest in Tbilisi on Sunday?",
    ),
]
