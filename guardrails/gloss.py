"""English glosses of the words injections are made of, in German, Spanish, French, Russian and a
few more; and of everyday German.

The classifier's word features read "ignoriere alle vorherigen anweisungen" as "ignore all
previous instructions", so what it learns from the many English examples carries over to the
few in other languages. Everyday German words are glossed too ("ich möchte, dass sie als
übersetzer fungieren" reads "i want that you as translator act"), so that a German request shares
features with its English twin, benign or not. Only words, never phrases. Keys are put through
`canonical`, as the text is: Cyrillic look-alike letters become Latin ones there.
"""

from __future__ import annotations

from guardrails.normalize import canonical

_GLOSSES: dict[str, tuple[str, ...]] = {
    "ignore": (
        "ignoriere",
        "ignorieren",
        "ignoriert",
        "ignorier",
        "missachte",
        "missachten",
        "ignora",
        "ignorar",
        "ignorez",
        "ignorer",
        "игнорируй",
        "игнорируйте",
    ),
    "forget": (
        "vergiss",
        "vergessen",
        "vergesst",
        "vergisst",
        "olvida",
        "olvide",
        "olvidar",
        "olvides",
        "oublie",
        "oubliez",
        "oublier",
        "забудьте",
        "забудь",
        "забыть",
    ),
    "instructions": (
        "anweisungen",
        "anweisung",
        "instruktionen",
        "vorgaben",
        "befehle",
        "regeln",
        "instrucciones",
        "reglas",
        "consignes",
        "инструкции",
        "инструкций",
    ),
    "above": ("obigen", "oben", "obige", "obiges"),
    "previous": (
        "vorherigen",
        "vorherige",
        "vorigen",
        "bisherigen",
        "bisherige",
        "früheren",
        "vorher",
        "anteriores",
        "anterior",
        "précédentes",
        "précédents",
    ),
    "all": ("alle", "allen", "todas", "todos", "todo", "toutes", "tous", "tout", "все", "всё"),
    "everything": ("alles",),
    "you": ("du", "dir", "dich"),
    "are": ("bist", "eres"),
    "now": ("jetzt", "nun", "sofort", "ahora", "maintenant"),
    "new": ("neue", "neuen", "neues"),
    "task": ("aufgabe", "aufgaben", "auftrag"),
    "say": (
        "sag",
        "sage",
        "sagen",
        "sagt",
        "di",
        "decir",
        "dices",
        "dis",
        "dites",
        "скажите",
        "скажи",
    ),
    "write": ("schreibe", "schreib", "schreiben", "verfasse", "verfassen"),
    "evil": ("böse", "bösen", "böser"),
    "ai": ("ki",),
    "pretend": ("stell", "vorstellen"),
    "output": ("ausgabe",),
    "input": ("eingabe",),
    "and": ("und",),
    "what": ("was",),
    "the": ("die", "der", "das", "den"),
    "very": ("sehr",),
    "good": ("gut",),
    "answer": ("antworte", "antworten", "antwort"),
    "instead": ("stattdessen",),
    "following": ("folgende", "folgendes", "folgenden", "siguiente"),
    "hate": ("hasse", "hass"),
}

# Everyday German (pronouns, verbs, question words, the words of requests), "german english";
# not words that are also common English ones ("am", "an", "will", "man", "kind", "war").
_GERMAN = """
ich i mich me mir me mein my meine my meinen my meiner my meinem my meines my wir we uns us
unser our unsere our sie you ihnen you ihr your ihre your ihren your ihrer your ihrem your
deine your deinen your deiner your deinem your dein your er he es it wer who wie how wo where
wann when warum why wieso why weshalb why welche which welcher which welches which welchen which
ist is sind are waren were bin am sei be seid are wird will werden will werde will wurde was
kann can kannst can könnt can können can könnte could könnten could muss must musst must
müssen must soll should sollst should sollen should sollte should darf may darfst may dürfen may
möchte want möchten want möchtest want willst want wollen want würde would würden would
würdest would habe have hast have hat has haben have hatte had nicht not kein no keine no
keinen no nichts nothing nie never nur only auch also noch still schon already immer always
ab from von of zu to für for mit with ohne without über about nach after vor before bei at
aus out auf on in in im in als as wenn if ob whether dass that weil because aber but oder or
sondern but denn because so so dann then danach then hier here da there diese this dieser this
dieses this diesen this jener that ein a eine a einen a einem a einer a eines a gib give
gebe give geben give gibt gives zeige show zeig show zeigen show erkläre explain
erklären explain erzähle tell erzähl tell erzählen tell nenne name nennen name beantworte answer
beantworten answer frage question fragen ask gefragt asked spiele play spielen play spielt plays
rolle role tue do tun do mache make mach make machen make handeln act fungiere act fungieren act
fungierst act verhalte behave benimm behave sprich speak sprechen speak rede talk reden talk
übersetze translate übersetzen translate wiederhole repeat wiederholen repeat drucke print
drucken print gebe give verrate reveal verraten reveal lösche delete löschen delete
ändere change ändern change beginne start beginnen start fange start anfangen start höre listen
hör listen hilf help hilfe help helfen help hallo hello bitte please danke thanks gemacht done
erledigt done genug enough genügt enough stopp stop stop stop halt stop achtung attention
wichtig important dringend urgently weitere further weiteren further andere other anderen other
anderes other neu new neuer new text text texte texts textes text prompt prompt befehl command
frage question fragen questions antworten answers antwort answer sätze sentences satz sentence
wort word wörter words zeile line zeilen lines oben above unten below anfang beginning
beginn beginning ende end alles everything nichts nothing etwas something jemand someone
immer always jede every jeden every jeder every jedes every jetzt now nun now heute today
morgen tomorrow gestern yesterday gesagt said sagte said geschrieben written steht stands
gelesen read lesen read schreibe write schreib write schreiben write schreibst write
verfasse write formuliere formulate formulieren formulate behaupte claim behaupten claim
bestätige confirm bestätigen confirm erfinde invent erfinden invent tue do wahr true
unwahr untrue falsch false lüge lie lügen lie gut good schlecht bad beste best besten best
bester best toll great super great großartig great hervorragend excellent
hervorragende excellent ausgezeichnet excellent ausgezeichnete excellent leistung performance
klasse great perfekt perfect richtig right hasse hate hasst hates liebe love liebst love
liebt loves doof stupid dumm stupid blöd stupid scheisse shit scheiße shit beleidige insult
beleidigen insult witz joke witze jokes gedicht poem lied song aufsatz essay rede speech
zeitung newspaper redaktion editors artikel article artikeln articles dokument document
dokumente documents kontext context quelle source quellen sources informationen information
information information wissen knowledge weisst know weißt know weiß know sagst say denkst think
denke think findest find finde find hältst think meinung opinion system system
systemprompt systemprompt modus mode entwicklermodus developermode filter filter regel rule
richtlinie guideline richtlinien guidelines einschränkungen restrictions grenzen limits
erlaubt allowed verboten forbidden vergessen forgotten vergisst forget merke remember
merken remember erinnere remember erinnern remember gedächtnis memory spiel game film film
szene scene schauspieler actors figur character person person personen people mensch human
menschen humans ki ai computer computer programm program code code assistent assistant
rolle role stil style stile style pirat pirate englisch english deutsch german sprache language
übersetzung translation übersetzer translator welt world land country länder countries
deutschland germany regierung government partei party politik politics politiker politician
krieg war geld money frau woman frauen women mann man männer men kinder children haus house
stadt city jahr year jahre years zeit time tag day woche week wochenende weekend
"""
# Injection words in languages deepset's set also has a few of (Croatian, Italian, Portuguese,
# Turkish); "english word word …".
_MORE = """
forget zaboravi zaboravite dimentica dimenticate esqueça esqueca esquecer unut
all sve svi tutte tutti tudo todas todos hepsi
instructions instrukcije upute istruzioni instruções instrucoes talimatlari
ignore ignoriraj ignorišite ignoriši ignori ignorare
say reci recite dire diga dizer söyle
"""
_GERMAN_PAIRS = _GERMAN.split()

GLOSS: dict[str, str] = {
    **{
        canonical(german): english
        for german, english in zip(_GERMAN_PAIRS[::2], _GERMAN_PAIRS[1::2], strict=True)
    },
    **{
        canonical(word): line.split()[0]
        for line in _MORE.strip().splitlines()
        for word in line.split()[1:]
    },
    **{canonical(word): english for english, words in _GLOSSES.items() for word in words},
}
