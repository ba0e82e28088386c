"""Vocabulary banks for the synthetic LaMP demo data (read by ``make_demo_data.py``).

Pure data, no logic. Conventions:

* ``terms``: one string per topic; ``;`` separates term groups, ``|`` separates
  synonyms inside a group. The first variant is the plain word; the others are
  paraphrases used to make items that share meaning but few words with an input.
* templates contain slots: ``{t}`` a term of the topic being written, and bank
  fillers ``{name}``, ``{first}``, ``{place}``, ``{day}``, ``{num}``.
* No text contains a double quote (LaMP-1 inputs are parsed by splitting on ``"``).
"""

from __future__ import annotations

NAMES: tuple[str, ...] = (
    "Maya Okafor", "Daniel Reyes", "Priya Natarajan", "Tom Brennan", "Lena Fischer",
    "Omar Haddad", "Grace Liu", "Samuel Osei", "Ines Carvalho", "Victor Petrov",
    "Hana Sato", "Jonas Berg", "Amara Diallo", "Leo Marchetti", "Nadia Rahman",
    "Ethan Cole", "Sofia Lindqvist", "Ravi Menon", "Clara Dubois", "Marcus Webb",
    "Yusuf Demir", "Elena Costa", "Kofi Mensah", "Julia Novak", "Arjun Kapoor",
    "Rosa Jimenez", "Felix Wagner", "Aisha Bello", "Noah Fitzgerald", "Mei Tanaka",
)
PLACES: tuple[str, ...] = (
    "Lisbon", "a coastal town in Maine", "Chicago", "Nairobi", "Glasgow", "Osaka",
    "a mining town in Nevada", "Montreal", "Naples", "Melbourne", "Krakow", "Seoul",
    "a village in the Alps", "New Orleans", "Cape Town", "Vancouver", "Marseille",
    "Reykjavik", "Austin", "Buenos Aires",
)
DAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# --------------------------------------------------------------------------- LaMP-2
# Movie descriptions. ``tags``: the tags a user may give this kind of film; each
# user picks one per topic (so two users tag the same kind of film differently).
MOVIE_GENERIC: tuple[str, ...] = (
    "Set in {place}, the story follows {name}, whose quiet life is upended by the {t}.",
    "Along the way, {name} learns the truth about the {t}.",
    "What begins with the {t} slowly turns into something far more personal.",
    "The film balances the {t} with quiet moments between {name} and an unlikely ally.",
    "{name} must confront an old rival before the {t} can change everything.",
    "By the final act, the {t} and the {t} collide in ways nobody expects.",
    "Told over a single year, it is a story about loyalty, pride and the {t}.",
    "Strong performances carry the film whenever the story turns to the {t}.",
    "Nothing about the {t} goes according to plan.",
    "Old secrets about the {t} resurface and force {name} to choose a side.",
)
MOVIE_TOPICS: dict[str, dict] = {
    "space": {
        "tags": ("sci-fi", "thought-provoking", "dystopia", "action", "classic"),
        "terms": "starship|spacecraft|space vessel; space station|orbital outpost; alien signal|"
        "extraterrestrial transmission|strange broadcast; cryosleep|hypersleep|suspended animation; "
        "mission commander|flight captain; wormhole|rift in spacetime; colony ship|settler ark; "
        "distant moon|remote moon; oxygen supply|air reserves; mission control|ground control; "
        "spacewalk; asteroid field|asteroid belt; hull breach|cracked hull; rover|planetary buggy; "
        "android|synthetic crewmate|robot; navigation computer|onboard AI; distress beacon|mayday signal; "
        "solar flare|stellar storm; escape pod|lifeboat capsule; first contact|alien encounter; "
        "lunar base|moon colony; reactor core|fusion engine; star map|galactic chart; "
        "black hole|gravity well; cargo freighter|cargo hauler; zero gravity|weightlessness; "
        "deep space|the void between stars; terraforming project; orbital debris|space junk",
        "sents": (
            "When an old signal leads the crew to the {t}, nobody is ready for what waits beyond the {t}.",
            "Stranded far from home, a young engineer must rely on the {t} and the {t} to survive.",
            "The mission goes wrong the moment the {t} and the {t} fail at once.",
            "A veteran pilot returns for one last flight, haunted by the {t}.",
            "Every choice aboard the ship comes down to the {t}, the {t} and who can be trusted.",
            "The film treats the {t} and the silence of the {t} with equal awe.",
        ),
    },
    "heist": {
        "tags": ("action", "twist ending", "comedy", "violence", "classic"),
        "terms": "vault|safe room; casino|gambling palace; getaway car|escape vehicle; safecracker|lock expert; "
        "diamond|precious gem; security guard|night watchman; blueprint|floor plan; alarm system|security grid; "
        "inside man|mole; loot|haul|stolen fortune; crew of thieves|gang of crooks; mastermind|ringleader; "
        "armored truck|cash van; museum gala; double cross|betrayal; disguise; laser grid; bank manager; "
        "getaway driver; auction house; forged painting|fake masterpiece; police detective|investigator; "
        "hacker|computer whiz; split-second plan|precise timing; escape tunnel; jewelry store; briefcase; "
        "art collector; one last score|final job; casino boss",
        "sents": (
            "A retired thief assembles a crew for one impossible job involving the {t} and the {t}.",
            "The plan depends on the {t}, the {t} and a partner who may not be loyal.",
            "When the plan around the {t} changes at the last minute, the crew has to improvise.",
            "A relentless detective stays one step behind, obsessed with the {t}.",
            "Everyone in the gang has a reason to want the {t}, and a reason to lie about the {t}.",
            "The robbery goes wrong in the most stylish way possible, starting with the {t}.",
        ),
    },
    "romance": {
        "tags": ("romance", "comedy", "classic", "based on a book", "thought-provoking"),
        "terms": "first date|dinner date; wedding|marriage ceremony; old flame|former sweetheart; "
        "love letter|handwritten note; summer romance|holiday fling; bookshop|bookstore; bakery|pastry shop; "
        "best friend; engagement ring; long-distance relationship; small-town festival; heartbreak|broken heart; "
        "rival suitor; dance lesson; rainy evening; chance meeting|meet-cute; family farm; bridesmaid; "
        "second chance|fresh start; vineyard; music teacher; marriage proposal; misunderstanding; "
        "childhood sweetheart; former fiance; love triangle; coffee shop|cafe; seaside cottage|beach house; "
        "city apartment; anniversary",
        "sents": (
            "A disastrous evening at the {t} leads two strangers to a friendship neither of them wanted.",
            "Back home for the summer, a successful architect runs into her past, the {t} and the {t}.",
            "A forgotten note found near the {t} sets off a romance across two continents.",
            "Between the {t} and the {t}, two stubborn people slowly admit what everyone else can see.",
            "Love, pride and the {t} are tested when an old promise resurfaces.",
            "It is a warm story about the {t} and the courage to say what you feel.",
        ),
    },
    "war": {
        "tags": ("violence", "true story", "classic", "action", "social commentary"),
        "terms": "battlefield|front line; platoon|squad|unit; trench|foxhole; bombing raid|air strike; "
        "field hospital|medical tent; enemy lines; general|commanding officer; prisoner of war|captive soldier; "
        "rifle; occupied village|captured town; resistance fighter|partisan; ceasefire|truce; battalion; "
        "supply convoy; landing craft; medic|field nurse; radio operator; sniper; minefield; deserter; "
        "war correspondent; bunker; artillery barrage|shelling; homecoming; fallen comrade; letters home; "
        "beachhead; tank crew; secret mission; surrender",
        "sents": (
            "Cut off behind enemy lines, a young officer must lead the survivors past the {t} before dawn.",
            "Near the {t}, a field nurse fights to save soldiers from both sides.",
            "Two soldiers carry a message about the {t} that could end the fighting.",
            "For the men who survived the {t}, the war never really ends.",
            "Based on wartime diaries, the film follows one unit from the {t} to the {t}.",
            "The film shows the {t} without glory, only mud, fear and the {t}.",
        ),
    },
    "courtroom": {
        "tags": ("social commentary", "true story", "twist ending", "thought-provoking", "based on a book"),
        "terms": "trial|court case; jury|twelve jurors; defense attorney|defense lawyer; prosecutor|district attorney; "
        "witness stand; verdict|ruling; judge; murder charge; alibi; cross-examination; evidence|exhibit; "
        "wrongful conviction; death row; plea deal|plea bargain; closing argument; public defender; law firm; "
        "testimony|sworn statement; appeal; legal clerk; courthouse; key witness; forensic report; "
        "mistrial; deposition; cover-up; confession; legal team; retrial; small-town sheriff",
        "sents": (
            "A tired lawyer takes on a case built around the {t} that the whole town believes is already lost.",
            "When the key testimony collapses, the entire trial turns on the {t}.",
            "Years after the verdict, a young clerk uncovers the truth about the {t} and the {t}.",
            "The jury must weigh the {t} against what the town wants to hear.",
            "A brilliant attorney and a stubborn judge clash over the {t} in a sweltering courthouse.",
            "Each new detail about the {t} reveals a little more about who really committed the crime.",
        ),
    },
    "fantasy": {
        "tags": ("fantasy", "based on a book", "action", "classic", "thought-provoking"),
        "terms": "dragon|winged beast; enchanted sword|magic blade; wizard|sorcerer|mage; kingdom|realm; "
        "quest|journey; prophecy|ancient foretelling; elf|forest folk; dwarf; dark lord|shadow king; "
        "spellbook|grimoire; castle|fortress; cursed forest; amulet|talisman; throne; mountain pass; "
        "orc army|goblin horde; healer; crown; portal; ancient ruins; riddle; fellowship|band of heroes; "
        "sea serpent; witch; tower; magic; oath; heir; giant; map of the realm",
        "sents": (
            "A farm girl learns that an ancient prophecy speaks of her and of the {t}, and sets out to find it.",
            "To stop the coming darkness, an old wizard and a reluctant thief search for the {t}.",
            "The realm has fallen silent, and only the {t} can wake it.",
            "Their quest leads past the {t} and the {t}, and the fellowship slowly breaks apart.",
            "A knight sworn to protect the crown begins to doubt everything she was told about the {t}.",
            "The world of the {t} and the {t} is built with patience, humor and real danger.",
        ),
    },
    "sports": {
        "tags": ("true story", "comedy", "thought-provoking", "classic", "action"),
        "terms": "championship|title game; coach|trainer; underdog team|long-shot squad; locker room; "
        "final season; athletic scholarship; boxing ring; marathon; injury; rival team; training camp; "
        "starting lineup; halftime speech; league; stadium|arena; comeback|turnaround; basketball court; "
        "hockey rink; swimming pool; talent scout; trophy; playoffs; rookie; quarterback; tryouts; referee; "
        "gold medal; practice; team captain; small-town team",
        "sents": (
            "A washed-up coach agrees to train a team nobody believes in, with nothing but the {t} and the {t}.",
            "After a career-ending injury, a former star returns to the game, this time focused on the {t}.",
            "From the {t} to the {t}, a young player learns what it really takes to win.",
            "The {t} and one unforgettable halftime speech turn a losing season into a town's obsession.",
            "With everything on the line, the team faces the {t} one more time.",
            "Every victory feels earned, and every defeat at the {t} hurts.",
        ),
    },
    "family comedy": {
        "tags": ("comedy", "dark comedy", "classic", "romance", "based on a book"),
        "terms": "family road trip|vacation drive; summer camp; grandmother|grandma; wedding plans; "
        "family reunion; babysitter|nanny; twins; neighbor|next-door neighbor; talent show; dog|family pet; "
        "birthday party; holiday dinner|thanksgiving dinner; minivan; school play; camping trip; in-laws; "
        "prank; house swap; bake sale; christmas morning; science fair; lost luggage; ski resort; cousin; "
        "backyard; mix-up; single dad; moving day; board game night; surprise party",
        "sents": (
            "A family weekend goes hilariously wrong when the {t} and the {t} collide.",
            "Left in charge for one weekend, an overconfident uncle has to survive the {t}.",
            "Between the {t} and the {t}, the whole household descends into chaos.",
            "Nobody gets through the {t} without at least one embarrassing moment.",
            "The family learns that the {t} matters more than the perfect plan.",
            "The film gets its best gags from the {t}, and the grandmother steals every scene.",
        ),
    },
    "horror": {
        "tags": ("violence", "twist ending", "psychology", "dark comedy", "classic"),
        "terms": "haunted house|creepy mansion; ghost|spirit|apparition; basement|cellar; demon; curse; "
        "cabin in the woods|remote cabin; possession; old doll; seance; cult; creature|monster; nightmare; "
        "asylum; graveyard|cemetery; full moon; strange noises; exorcism; mirror; masked killer; "
        "abandoned hospital; whispers; ritual; attic; blood moon; missing hikers; fog; locked door; "
        "videotape; priest; small-town legend",
        "sents": (
            "A family moves into an old house and soon discovers the {t}.",
            "After a night near the {t}, a group of friends is hunted by something tied to the {t}.",
            "The terror begins the night the {t} and the {t} appear.",
            "A skeptical investigator is called in to explain the {t}.",
            "Nobody believes her about the {t} until it is far too late.",
            "The film uses the {t} sparingly, and it is the {t} you remember.",
        ),
    },
    "dystopia": {
        "tags": ("dystopia", "social commentary", "sci-fi", "thought-provoking", "violence", "based on a book"),
        "terms": "surveillance state|watchful regime; rebellion|uprising; totalitarian government|authoritarian "
        "regime; "
        "ration cards; curfew; propaganda; resistance cell; walled city; citizens|population; mega corporation; "
        "memory wipe; lottery; outcast; censorship; labor camp; ruling council; police drones; clones; "
        "identity chip; underground network; black market; ruling party; social ranking; purge; enforcer; "
        "ministry tower; wasteland; secret police; state broadcast; freedom",
        "sents": (
            "In a city ruled by fear, a clerk discovers the truth about the {t}.",
            "Years after the collapse, every citizen lives under the {t} and the {t}.",
            "A young outsider joins a secret movement to bring down the {t}.",
            "Beyond the walls lies the {t}, and the truth about the {t}.",
            "Nothing escapes the {t}, and the regime decides who survives.",
            "It is a cold, sharp story about the {t} and the price of freedom.",
        ),
    },
    "biopic": {
        "tags": ("true story", "based on a book", "social commentary", "classic", "thought-provoking"),
        "terms": "true events|real events; famous scientist; civil rights leader|activist; inventor; record label; "
        "olympic athlete; rise to fame; memoir|autobiography; historic expedition; newspaper reporter|journalist; "
        "landmark lawsuit; early years|childhood; archive footage; public scandal; award ceremony; "
        "political campaign; garage startup; hospital ward; mountain climb; family business; world tour; "
        "labor union; manuscript; famous painter; world record; exile; comeback tour; legacy; interview",
        "sents": (
            "Based on real events, the film traces the life behind the {t}, from a small flat in {place} to the "
            "world stage.",
            "Drawing on the {t}, it follows a pioneer who refused to be silenced.",
            "The {t} and the {t} shaped a life that changed an entire industry.",
            "From the {t} to the {t}, the film never hides the cost of ambition.",
            "Using the {t}, the director reconstructs the story in careful detail.",
            "It is an honest portrait of the person behind the {t}.",
        ),
    },
    "psych thriller": {
        "tags": ("psychology", "twist ending", "thought-provoking", "dark comedy", "violence"),
        "terms": "therapist|psychiatrist; patient; memory loss|amnesia; split personality; obsession|fixation; "
        "stalker; twin sister; unreliable narrator; diary|journal; insomnia|sleeplessness; hallucination|vision; "
        "hypnosis; hidden room; affair; paranoia; perfect marriage; gaslighting; missing wife; secret; "
        "medication|pills; childhood trauma; neighbor; mind game; lie; mental hospital; identity; dream; "
        "voice on the phone; suspicion; lake house",
        "sents": (
            "A woman begins to suspect that her husband is hiding something about the {t}.",
            "After weeks of sleepless nights, a man finds notes about the {t} that he does not remember writing.",
            "What starts with the {t} turns into a dangerous game, and the {t} is the only clue.",
            "Nobody can be trusted once the truth about the {t} comes to light.",
            "Alone in a lake house, she slowly unravels the {t}.",
            "The story keeps the audience guessing about the {t} until the very end.",
        ),
    },
}

# --------------------------------------------------------------------------- LaMP-3
# Product reviews. The wording is only mildly opinionated on purpose: ``PRODUCT_TONE``
# encodes the item-level deviation from the user's usual rating for the category
# (-1, 0, +1), not the absolute score, so the same words earn a 2 from a harsh user
# and a 5 from a generous one.
PRODUCT_GENERIC: tuple[str, ...] = (
    "I bought the {t} to replace my old {t}.",
    "Ordered the {t} last month and have used it almost every day since.",
    "The {t} arrived quickly and well packaged.",
    "Setting up the {t} took about ten minutes.",
    "Compared to the {t} I had before, this one is lighter.",
    "My partner ended up using the {t} more than I do.",
    "The {t} looked exactly like the photos.",
    "I mostly got it for the {t}.",
    "Bought it as a gift along with the {t}.",
    "Using it mainly on weekends, together with the {t}.",
)
PRODUCT_TONE: dict[int, tuple[str, ...]] = {
    -1: (
        "The {t} could be better.",
        "A few small annoyances with the {t}, though.",
        "Not quite what I expected from the description.",
        "It has some rough edges.",
        "The {t} felt a little cheap.",
        "I had to return the first one.",
    ),
    0: (
        "It does what it says.",
        "About what I expected for the price.",
        "No surprises either way.",
        "It works as described.",
        "The {t} held up fine.",
        "Nothing more to add about the {t}.",
    ),
    1: (
        "Pleasantly surprised by the {t}.",
        "The {t} turned out to be a real highlight.",
        "Better than I expected.",
        "Would happily buy it again.",
        "The {t} exceeded what I hoped for.",
        "Already recommended the {t} to a friend.",
    ),
}
PRODUCT_TOPICS: dict[str, dict] = {
    "electronics": {
        "terms": "wireless earbuds|bluetooth earphones; charging cable|usb-c cord; bluetooth speaker|portable speaker; "
        "battery life|battery runtime; noise cancelling; touchscreen|touch display; firmware update|software update; "
        "power bank|portable charger; smartwatch|fitness watch; sound quality|audio; pairing|bluetooth connection; "
        "charging case; webcam; mechanical keyboard|keyboard; screen protector; hdmi adapter|video adapter; "
        "phone mount; wall charger|power adapter; gaming mouse|mouse; volume buttons|controls; tablet stand; "
        "microphone|mic; remote control; memory card; wifi router|router; companion app; headphone jack; "
        "power button; cooling fan; led display",
        "sents": (
            "The {t} lasted about a day and the {t} connected without trouble.",
            "After the latest {t}, the {t} behaved much better.",
            "The {t} worked with my laptop out of the box, and so did the {t}.",
            "I use the {t} for calls, and the {t} sounded clear enough.",
        ),
    },
    "books": {
        "terms": "novel|book; paperback|softcover; hardcover edition|hardback; plot|storyline; main "
        "character|protagonist; "
        "author|writer; chapters; ending|final chapters; prose|writing style; cookbook|recipe book; "
        "audiobook narration|narrator; illustrations|pictures; sequel; series; biography|life story; "
        "mystery novel|whodunit; page count; translation; short stories; book club; dialogue; pacing; "
        "history book; poems|poetry; self-help book; print|typeface; spine; fantasy series; romance novel; travel "
        "guide",
        "sents": (
            "The {t} pulled me in and the {t} kept the pages turning.",
            "Read the {t} for my book club and we talked about the {t} for hours.",
            "The {t} felt uneven but the {t} stayed with me.",
            "I finished the {t} in two evenings; the {t} surprised me.",
        ),
    },
    "kitchen": {
        "terms": "nonstick pan|frying pan; chef knife|kitchen knife; blender; coffee maker|coffee machine; "
        "cutting board|chopping board; measuring cups; air fryer; cast iron skillet; stock pot|soup pot; spatula; "
        "toaster; electric kettle|kettle; food processor; mixing bowls; baking sheet|cookie sheet; glass lid; "
        "handle; dishwasher; storage containers; rice cooker; pressure cooker; whisk; meat thermometer; grater; "
        "knife block; cookware set|pots and pans; oven mitts; can opener; spice rack; salad spinner",
        "sents": (
            "The {t} heated evenly and the {t} stayed cool.",
            "I cook with the {t} most nights and clean the {t} right after.",
            "The {t} fit next to my {t} on the counter.",
            "Made soup with the {t} and pancakes with the {t} this week.",
        ),
    },
    "toys": {
        "terms": "building blocks|construction bricks; puzzle|jigsaw; stuffed animal|plush toy; board game; "
        "action figure; toy car|model car; dollhouse; craft kit; train set; slime kit; play kitchen; "
        "remote control car|rc car; bath toys; kite; science kit; card game; water gun; teddy bear; "
        "stacking rings; wooden toys; magnet tiles; foam dart blaster|nerf blaster; marble run; "
        "coloring book|activity book; batteries; small pieces; instruction booklet; storage bin; glitter; rubber "
        "wheels",
        "sents": (
            "Got the {t} for my nephew and it kept him busy all afternoon.",
            "Watch out for the {t} and the {t} if you have toddlers.",
            "My daughter plays with the {t} every day after school, usually next to the {t}.",
            "The {t} held up better than the {t} we had before.",
        ),
    },
    "clothing": {
        "terms": "jeans|denim; t-shirt|tee; winter jacket|coat; running shoes|sneakers; hoodie|sweatshirt; dress; "
        "socks; fabric|material; sizing|fit; waistband; stitching|seams; zipper; wool sweater|knit sweater; "
        "rain boots; leggings; leather belt; scarf; pockets; collar; color|shade; washing machine|the wash; "
        "shrinking; buttons; lining; sleeve length; beanie|winter hat; raincoat; pajamas; work shirt|button-down; "
        "swimsuit",
        "sents": (
            "The {t} ran a little small, so check the size chart before ordering the {t}.",
            "After a few rounds in the washing machine, the {t} still looked new.",
            "The {t} felt soft and the {t} seemed well made.",
            "I wear the {t} to work with the {t}.",
        ),
    },
    "beauty": {
        "terms": "moisturizer|face cream; shampoo; conditioner; sunscreen|spf lotion; lipstick; foundation; mascara; "
        "face serum|serum; scent|fragrance; skin|complexion; hair dryer|blow dryer; nail polish; cleanser|face wash; "
        "body lotion; eye cream; perfume; packaging; pump bottle; dry skin; sensitive skin; "
        "makeup brushes|brush set; hair oil; razor; sheet mask|face mask; toner; deodorant; lip balm; "
        "curling iron; tinted balm; texture",
        "sents": (
            "The {t} absorbed quickly and worked well with my {t}.",
            "I use the {t} every morning before the {t}.",
            "The {t} felt light and the {t} smelled pleasant.",
            "Even with my {t}, the {t} did not cause any irritation.",
        ),
    },
    "garden": {
        "terms": "garden hose|water hose; lawn mower|mower; pruning shears|secateurs; raised bed|planter box; "
        "seeds|seed packet; potting soil|compost; watering can; leaf blower; gardening gloves|gloves; trellis; "
        "bird feeder; sprinkler; wheelbarrow; rake; tomato plants|tomatoes; flower pots; patio chairs; solar lights; "
        "fence panels; weed killer; hedge trimmer; shovel|spade; grass seed; pest spray; hummingbird feeder; "
        "garden shed|shed; fertilizer; hose reel; garden kneeler; greenhouse",
        "sents": (
            "The {t} made spring planting much easier, especially with the {t}.",
            "I use the {t} every weekend around the {t}.",
            "The {t} survived a whole summer next to the {t}.",
            "Set up the {t} near the {t} in one afternoon.",
        ),
    },
    "sports gear": {
        "terms": "yoga mat|exercise mat; dumbbells|hand weights; resistance bands; camping tent|tent; sleeping bag; "
        "hiking boots; water bottle; bike helmet|cycling helmet; tennis racket; basketball; jump rope; "
        "backpack|daypack; fishing rod; kayak paddle; treadmill; gym bag; foam roller; running belt; golf balls; "
        "soccer ball; headlamp; trekking poles; swim goggles; camping stove; cooler; knee brace; pull-up bar; "
        "climbing harness; skateboard; ski gloves",
        "sents": (
            "Took the {t} on a weekend trip along with the {t}.",
            "The {t} held up to daily workouts and the {t} fit in my bag.",
            "I train with the {t} three times a week, sometimes with the {t}.",
            "The {t} packed down small enough to carry with the {t}.",
        ),
    },
    "pet supplies": {
        "terms": "dog food|kibble; cat litter; dog leash|leash; collar; chew toy; scratching post; dog bed|pet bed; "
        "aquarium filter|fish tank filter; bird cage; treats|snacks; grooming brush; harness; litter box; cat tree; "
        "water fountain; flea treatment; crate|kennel; food bowl; catnip; pet carrier; dog shampoo; tennis balls; "
        "hamster cage; poop bags; chew bones; pet gate; lick mat; training clicker; cat flap; rope toy",
        "sents": (
            "My dog loves the {t} and ignores the {t} now.",
            "Our vet recommended the {t}, along with the {t}.",
            "Our cat figured out the {t} in a day and now guards the {t}.",
            "The {t} held up well, unlike the old {t}.",
        ),
    },
    "office": {
        "terms": "desk chair|office chair; standing desk; printer; ink cartridges|toner; notebook|notepad; "
        "gel pens|ballpoint pens; stapler; monitor stand; desk lamp; file folders|folders; sticky notes; label maker; "
        "paper shredder; whiteboard; calculator; laptop stand; desk organizer; envelopes; highlighters; "
        "planner|agenda; paper clips; ergonomic keyboard; headset; cable tray; armrest; scanner; binder; "
        "mouse pad; footrest; bulletin board",
        "sents": (
            "The {t} made my home office much tidier, together with the {t}.",
            "I use the {t} all day and the {t} stayed comfortable.",
            "The {t} fit under the {t} with room to spare.",
            "Ordered the {t} and the {t} for the whole team.",
        ),
    },
}

# --------------------------------------------------------------------------- LaMP-4
NEWS_GENERIC: tuple[str, ...] = (
    "Officials said the {t} would be reviewed before the end of the month.",
    "The announcement came after weeks of debate over the {t}.",
    "Critics argue that the {t} had been ignored for too long.",
    "Speaking to reporters in {place}, {name} described the {t} as a turning point.",
    "Local residents had mixed reactions to the {t}.",
    "Analysts expect the {t} to shape the coming year.",
    "A spokesperson declined to comment on the {t}.",
    "Figures released on {day} point to a sharp change in the {t}.",
    "Further details about the {t} are expected later this week.",
    "The {t} had drawn attention well beyond {place}.",
)
# Headline styles: {k1}, {k2} are the article's first two key terms, {adj} the user's pet adjective.
HEADLINE_STYLES: dict[str, str] = {
    "question": "is the {k1} the answer to the {k2}?",
    "will": "will the {k1} survive the {k2}?",
    "pun": "{k1} steals the show as {k2} heats up!",
    "how": "how the {k1} is reshaping the {k2}",
    "list": "{num} things to know about the {k1}",
    "why": "why the {k1} matters for the {k2}",
    "plain": "{adj} {k1} shakes up {k2}",
    "quote": "'a {adj} moment for the {k1},' says {name}",
    "versus": "{k1} vs {k2}: who wins?",
    "after": "after the {k1}, what comes next for the {k2}",
    "inside": "inside the {adj} fight over the {k1}",
}
# Signatures wrap the headline; each user has one per topic.
HEADLINE_SIGNATURES: tuple[str, ...] = (
    "{h}", "{h}", "Analysis: {h}", "{h} | The Morning Brief", "{h}, explained", "Breaking: {h}",
    "{h} (live updates)", "Opinion: {h}", "{h} - what we know", "Watch: {h}", "{h}, in five charts",
    "Exclusive: {h}", "{h} | Week in Review", "{h} - and why it matters",
)
HEADLINE_ADJECTIVES: tuple[str, ...] = (
    "big", "major", "bold", "stunning", "quiet", "surprise", "historic", "shock", "fresh", "rare", "messy", "tense",
)
NEWS_TOPICS: dict[str, dict] = {
    "politics": {
        "terms": "parliament|legislature; election|vote|ballot; senator|lawmaker; prime minister|head of government; "
        "budget bill|spending plan; opposition party|opposition; ruling coalition|coalition; campaign trail; "
        "opinion polls|polling; tax reform|tax overhaul; referendum; governor; cabinet reshuffle; voters|electorate; "
        "televised debate; policy agenda; sanctions; foreign minister; lobbyists; street protest|demonstration; "
        "city council; immigration bill; court nomination; diplomat|envoy; summit; party leader; constitution; "
        "recount; mayor; spending cuts",
        "sents": (
            "Lawmakers voted late on {day} after a heated session over the {t}.",
            "The opposition accused the government of rushing the {t} and ignoring the {t}.",
            "Pressure over the {t} is mounting ahead of the {t}.",
            "Early polls suggest the {t} could reshape the {t}.",
        ),
    },
    "sport": {
        "terms": "championship|title race; striker|forward; head coach|manager; league table|standings; transfer "
        "window; "
        "stadium|arena; final whistle; penalty|spot kick; goalkeeper|keeper; season opener; hamstring injury|injury; "
        "playoffs|postseason; derby|local rivalry; city marathon; tennis star; grand slam; world cup; "
        "personal best|career best; fans|supporters; relegation fight; hat-trick; medal table; team captain; "
        "extra time|overtime; draft pick; rookie; late comeback; world record; referee; semi-final",
        "sents": (
            "Two late goals decided the match, and the {t} dominated the talk after the {t}.",
            "The win lifted the club in the {t} after the {t}.",
            "The coach said the {t} had been the toughest test of the season.",
            "After the {t}, questions remain about the {t} and the {t}.",
        ),
    },
    "tech": {
        "terms": "smartphone|mobile phone; startup|young company; artificial intelligence|machine learning; "
        "chip maker|semiconductor firm; data breach|security leak; app store; cloud service|cloud platform; "
        "software update; privacy rules; social network|social media platform; electric car; battery technology; "
        "developers|programmers; headset; recommendation algorithm; chatbot|AI assistant; satellite internet; "
        "smart home; encryption; delivery robot; streaming service; search engine; gadget; tech giant|big tech "
        "company; "
        "network outage; subscription plan; delivery drone; quantum computer; video game; microchip",
        "sents": (
            "The company rolled out an update that changes how the {t} works with the {t}.",
            "Users reported problems with the {t} after the {t}.",
            "The firm is betting heavily on the {t} and the {t}.",
            "Regulators are examining the {t} after complaints about the {t}.",
        ),
    },
    "health": {
        "terms": "hospital|clinic; vaccine|vaccination; patients; doctors|physicians; nurses; diabetes; heart disease; "
        "mental health; clinical trial|drug trial; flu season; health insurance|health coverage; nutrition|diet; "
        "sleep habits; obesity; cancer screening; emergency room; pharmacy|drugstore; exercise|physical activity; "
        "outbreak; waiting lists; blood pressure; dementia; antibiotics; surgeons; public health officials; "
        "medication; virus; physical therapy; hospital beds; allergy season",
        "sents": (
            "A new study found that the {t} can lower the risk of {t}.",
            "Hospitals are under strain as cases linked to the {t} rise during the {t}.",
            "Experts warned that the {t} could worsen without better {t}.",
            "The city will expand access to the {t} this spring, officials said.",
        ),
    },
    "business": {
        "terms": "stocks|shares; quarterly profits|earnings; merger|takeover; chief executive|CEO; interest rates; "
        "inflation|rising prices; retail sales; layoffs|job cuts; supply chain; startup funding|venture capital; "
        "shareholders|investors; quarterly results; regional bank; oil prices; housing market; consumer spending; "
        "exports; car factory; stock market|markets; central bank; bankruptcy filing; small businesses; wages; "
        "tariffs; labor unions; commercial real estate; dividend; recession fears; annual forecast; bond yields",
        "sents": (
            "Markets rose after news about the {t} beat expectations.",
            "The company warned that the {t} would weigh on the {t}.",
            "The firm announced changes to the {t} as the {t} slowed.",
            "Investors reacted nervously to news about the {t}.",
        ),
    },
    "travel": {
        "terms": "airline|carrier; flights; passengers|travelers; airport; hotel|resort; cruise ship; "
        "tourists|visitors; "
        "beach; national park; passport; visa rules; train route|rail line; holiday destination; road trip; "
        "luggage|baggage; holiday season; bookings|reservations; island; museum pass; tour guide; backpackers; "
        "ski season; cheap fares; city break; theme park; border crossing; jet lag; travel insurance; campsite; "
        "landmark",
        "sents": (
            "Travelers faced delays at the {t} as the busy season began, with the {t} adding to the chaos.",
            "The company added a new option for the {t} this year, aimed at the {t}.",
            "Changes to the {t} will affect anyone heading to the {t}.",
            "Demand for the {t} hit a record despite the {t}.",
        ),
    },
    "science": {
        "terms": "researchers|scientists; new study|paper; space telescope|telescope; exoplanet|distant planet; "
        "fossil; "
        "gene|DNA; laboratory|lab; experiment; climate data; species; mars rover; particle physics; brain imaging; "
        "deep ocean; discovery|breakthrough; probe|spacecraft; dinosaur; bacteria; volcano; galaxy; vaccine research; "
        "quantum sensor; archaeologists; asteroid; rainforest; microscope; scientific journal; ice core; "
        "solar eclipse; evolution",
        "sents": (
            "Researchers studying the {t} have spotted signs of the {t}.",
            "The findings, published this week, describe an unexpected link between the {t} and the {t}.",
            "A discovery involving the {t} surprised the team.",
            "The work could change how we understand the {t}.",
        ),
    },
    "culture": {
        "terms": "museum; art exhibition|exhibit; painter|artist; debut novel; film festival; concert; album|record; "
        "theater|stage; director; gallery; opera; poet; bestseller list; literary prize|award; orchestra; musical; "
        "sculpture; critics|reviewers; premiere; arts festival; book fair; streaming series; actor|actress; ballet; "
        "comedian; street art; public library; photography show; dance troupe; art auction",
        "sents": (
            "The show opened at the {t} to glowing reviews of the {t}.",
            "The {t} and the {t} topped this year's lists.",
            "Organizers will bring the {t} to {place} next month.",
            "Tickets for the {t} sold out within hours.",
        ),
    },
    "environment": {
        "terms": "climate change|global warming; emissions|carbon output; heatwave|heat wave; flooding|floods; "
        "wildfire|bushfire; drought; renewable energy|clean energy; solar farm; wind turbines; recycling; "
        "plastic waste; air pollution|smog; rainfall; hurricane|storm; glacier; coastline; endangered species; "
        "forest cover; electric buses; carbon tax; river; conservation; weather forecast|forecast; snowstorm; "
        "coral reef; green energy; temperatures; deforestation; water shortage; national parks",
        "sents": (
            "Forecasters expect the {t} to bring more {t} to the region.",
            "Officials blamed the {t} for damage along the {t}.",
            "A new plan targets the {t} and aims to cut the {t} by a third.",
            "Scientists warned that the {t} and the {t} put the region at risk.",
        ),
    },
    "education": {
        "terms": "schools; teachers|educators; students|pupils; university|college; exam results|test scores; "
        "tuition fees|tuition; curriculum; classroom; school board; graduation; scholarship; online learning|remote "
        "classes; "
        "homework; literacy; kindergarten; student loans; principal|head teacher; campus; teacher strike; textbooks; "
        "school lunch; enrollment; math scores; vocational training; school year; after-school programs; dormitory; "
        "standardized tests; special education; lecture halls",
        "sents": (
            "The school board approved changes to the {t} for the next year.",
            "Teachers say the {t} made the {t} harder.",
            "A drop in the {t} has put pressure on the {t}.",
            "The district will expand the {t} and review the {t}.",
        ),
    },
}

# --------------------------------------------------------------------------- LaMP-1 and LaMP-5
PAPER_GENERIC: tuple[str, ...] = (
    "We study {t} in the setting of {t}.",
    "Existing approaches to {t} rely on {t}, which limits their applicability.",
    "In this paper, we propose a new method for {t} that combines {t} with {t}.",
    "Our key insight is that {t} can be exploited to improve {t}.",
    "We evaluate our approach on several benchmarks for {t}.",
    "Experiments show consistent gains over strong baselines in {t}.",
    "We also provide a theoretical analysis of {t}.",
    "Finally, we discuss limitations and open problems related to {t}.",
    "Results point to a remaining bottleneck in {t} for {t}.",
    "Our code and data for {t} are publicly available.",
)
# Title styles: {k1}, {k2} key terms of the abstract, {adj} the user's adjective, {acr} the user's system name.
TITLE_STYLES: dict[str, str] = {
    "acronym": "{acr}: {adj} {k1} for {k2}",
    "towards": "towards {adj} {k1} in {k2}",
    "on_the": "on the role of {k1} in {k2}",
    "via": "{adj} {k1} via {k2}",
    "learning": "learning {k1} with {k2}",
    "question": "can {k1} improve {k2}?",
    "rethinking": "rethinking {k1} for {k2}",
    "meets": "{k1} meets {k2}: a {adj} approach",
    "case": "{adj} {k1}: a case study in {k2}",
    "beyond": "beyond {k1}: {adj} {k2}",
    "plain": "{adj} {k1} for {k2}",
}
# A recurring tail a user adds to titles of one topic.
TITLE_TAILS: tuple[str, ...] = (
    "", "at Scale", "in Practice", "Revisited", "with Guarantees", "for the Real World", "Made Simple",
    "from First Principles", "without Labels", "in the Wild", "under Uncertainty", "on a Budget",
)
TITLE_ADJECTIVES: tuple[str, ...] = (
    "efficient", "robust", "scalable", "practical", "provable", "lightweight", "adaptive",
    "interpretable", "fast", "unified", "principled", "sparse",
)
ACRONYMS: tuple[str, ...] = (
    "HELIX", "ORCA", "NIMBUS", "KITE", "PRISM", "LUMEN", "TALON", "VESPA", "QUILL", "ARBOR",
    "MOSAIC", "COMET", "EMBER", "FALCON", "GLYPH", "HARBOR", "IRIS", "JUNO", "KESTREL", "LATTICE",
)
PAPER_TOPICS: dict[str, dict] = {
    "machine learning": {
        "terms": "neural networks|deep networks; gradient descent|stochastic optimization; transformers|attention "
        "models; "
        "generalization; overfitting; regularization; reinforcement learning; representation learning|feature "
        "learning; "
        "contrastive learning; meta-learning|learning to learn; hyperparameter tuning; graph neural networks; "
        "few-shot learning; knowledge distillation|model compression; variational inference; "
        "transfer learning|domain adaptation; adversarial examples|adversarial attacks; loss landscapes; "
        "batch normalization; self-supervised learning; noisy labels|label noise; active learning; kernel methods; "
        "ensemble methods; uncertainty estimation|calibration; federated learning; pretraining; sparse training; "
        "curriculum learning; reward shaping",
        "sents": (
            "Training with {t} often leads to {t}.",
            "We show that {t} can act as an implicit form of {t}.",
        ),
    },
    "databases": {
        "terms": "query optimization|query planning; relational databases|SQL engines; transaction "
        "processing|concurrency control; "
        "index structures|indexing; key-value stores; query execution; data lakes; schema design; join algorithms; "
        "cardinality estimation; column stores|columnar storage; buffer management; crash recovery|write-ahead "
        "logging; "
        "analytical queries|OLAP workloads; data integration; stream processing; B-trees; materialized views; "
        "data cleaning; data provenance; query languages; spatial databases; graph databases; data warehouses; "
        "page compression; snapshot isolation; sharding|partitioning; cost models; approximate queries; database "
        "benchmarks",
        "sents": (
            "Modern systems spend most of their time in {t} and {t}.",
            "We show that {t} can be integrated into {t} with little overhead.",
        ),
    },
    "networking": {
        "terms": "congestion control; routing protocols|routing; wireless networks|Wi-Fi; software-defined "
        "networking|SDN; "
        "packet loss; network latency|network delay; data center networks; TCP; network measurement; "
        "cellular networks|5G; peer-to-peer systems; content delivery|CDNs; network verification; traffic engineering; "
        "bandwidth allocation; internet topology; programmable switches; edge computing; intrusion detection|network "
        "security; "
        "mobile devices; video streaming; load balancing; BGP; packet scheduling; network slicing; satellite links; "
        "mesh networks; throughput; queue management; IoT devices",
        "sents": (
            "Under heavy load, {t} can degrade sharply in {t}.",
            "We deploy our design on {t} and measure {t}.",
        ),
    },
    "biology": {
        "terms": "gene expression; protein folding|protein structure; genome sequencing|sequencing; single-cell "
        "RNA-seq|single-cell data; "
        "phylogenetics|evolutionary trees; metagenomics|microbiome; drug discovery; variant calling; "
        "gene regulatory networks; sequence alignment; cancer genomics; epigenetics|DNA methylation; protein "
        "interactions; "
        "cell types; CRISPR screens; somatic mutations; population genetics; biomarkers; molecular dynamics; "
        "clinical data; metabolic pathways; transcriptomics; enzymes; antibiotic resistance; immune cells; "
        "mass spectrometry; reference genomes; tissue samples; disease risk; alternative splicing",
        "sents": (
            "Advances in {t} have produced large amounts of data on {t}.",
            "Applied to {t}, our method recovers known {t}.",
        ),
    },
    "hci": {
        "terms": "user study|usability study; interface design|interaction design; accessibility; visual "
        "analytics|visualization; "
        "crowdsourcing; participants; virtual reality|VR; augmented reality|AR; touch input; eye tracking; "
        "voice assistants|conversational agents; older adults; wearables; smartphone notifications; collaborative "
        "editing; "
        "design guidelines; mental models; paper prototypes; user trust; online communities; gesture recognition; "
        "chatbots; creativity support; cognitive load; mobile apps; children; privacy attitudes; "
        "semi-structured interviews|interviews; screen readers; social media use",
        "sents": (
            "Through a study with 24 participants, we identify challenges in {t} and {t}.",
            "Our findings inform {t} for {t}.",
        ),
    },
    "theory": {
        "terms": "approximation algorithms; lower bounds; graph algorithms; computational complexity|complexity "
        "classes; "
        "randomized algorithms; online algorithms; combinatorial optimization; streaming algorithms; linear "
        "programming; "
        "submodular functions; NP-hardness|hardness results; matroids; sorting networks; hashing; shortest paths; "
        "spectral methods; property testing; communication complexity; sublinear algorithms; "
        "parameterized complexity|fixed-parameter tractability; algorithmic game theory|game theory; bipartite "
        "matching; "
        "dynamic programming; expander graphs; sketching; polynomial time; boolean circuits; metric embeddings; "
        "planar graphs; competitive ratio",
        "sents": (
            "We give a new bound on {t} using {t}.",
            "Our result settles an open question on {t} and {t}.",
        ),
    },
    "security": {
        "terms": "malware; authentication|login security; encryption|cryptography; side-channel attacks|side channels; "
        "software vulnerabilities|security bugs; fuzzing; phishing; access control; password managers|passwords; "
        "intrusion detection; smart contracts; data leakage|privacy leaks; differential privacy; firmware; "
        "browser security; botnets; zero-day exploits; formal verification; threat models; secure enclaves; "
        "memory safety; ransomware; code obfuscation; binary analysis; key management; network attacks; spam "
        "filtering; "
        "static analysis; sandboxing; web applications",
        "sents": (
            "Attackers increasingly exploit {t} through {t}.",
            "We found several previously unknown issues in {t} and {t}.",
        ),
    },
    "vision": {
        "terms": "image classification; object detection; semantic segmentation; convolutional networks|CNNs; "
        "video understanding; depth estimation; image synthesis|image generation; pose estimation; 3D reconstruction; "
        "optical flow; visual tracking; scene understanding; face recognition; point clouds; image retrieval; "
        "super-resolution; data augmentation; vision transformers; medical images; autonomous driving; "
        "satellite imagery; camera calibration; action recognition; image captioning; self-supervised pretraining; "
        "occlusion; low-light images; bounding boxes; diffusion models; visual question answering",
        "sents": (
            "Current methods for {t} struggle with {t}.",
            "Our model improves {t} on standard benchmarks for {t}.",
        ),
    },
    "nlp": {
        "terms": "language models; machine translation; sentiment analysis; question answering; named entity "
        "recognition; "
        "text summarization|summarization; dialogue systems|chatbots; syntactic parsing|parsing; word embeddings; "
        "low-resource languages; information extraction; text classification; speech recognition; "
        "coreference resolution; in-context learning|prompting; tokenization; hallucination; reading comprehension; "
        "argument mining; discourse structure; multilingual models; hate speech detection; retrieval-augmented "
        "generation; "
        "semantic similarity; paraphrase generation; fact checking; instruction tuning; evaluation metrics; "
        "spelling correction; readability",
        "sents": (
            "Large models still fail at {t} for {t}.",
            "We release a new dataset for {t} covering {t}.",
        ),
    },
    "robotics": {
        "terms": "robotic grasping|robot manipulation; motion planning|path planning; legged robots|walking robots; "
        "SLAM|localization and mapping; aerial robots|drones; robot navigation; human-robot interaction; "
        "sim-to-real transfer; control policies; tactile sensing; robot arms; trajectory optimization; multi-robot "
        "systems; "
        "autonomous vehicles; obstacle avoidance; imitation learning|learning from demonstration; grippers; odometry; "
        "warehouse robots; exoskeletons; soft robots; inverse kinematics; lidar; task planning; underwater robots; "
        "swarm robotics; sensor calibration; model predictive control; contact dynamics; dexterous hands",
        "sents": (
            "Deploying {t} in the real world requires robust {t}.",
            "We validate {t} on a physical platform for {t}.",
        ),
    },
}

# --------------------------------------------------------------------------- LaMP-6
EMAIL_OPENERS: tuple[str, ...] = (
    "Hi {first},", "Hello {first},", "Hey {first},", "Dear {first},", "Hi team,", "Morning all,", "Hi both,",
)
EMAIL_CLOSERS: tuple[str, ...] = (
    "Thanks, {me}", "Best, {me}", "Cheers, {me}", "Thank you, {me}", "Regards, {me}", "- {me}",
)
EMAIL_GENERIC: tuple[str, ...] = (
    "Just following up on the {t} we discussed on {day}.",
    "Could you take a look at the {t} before {day}?",
    "Let me know if the {t} works for you.",
    "I have attached the latest {t} for reference.",
    "We still need a decision on the {t}.",
    "Thanks again for your help with the {t}.",
    "Please loop in {name} if anything changes with the {t}.",
    "Happy to jump on a call to talk through the {t}.",
    "Waiting on the {t} is blocking a couple of other things on our side.",
    "No rush, but the {t} should be sorted by {day}.",
)
# Subject styles: {k1}, {k2} key terms of the body. Tags are added per (user, topic).
SUBJECT_STYLES: dict[str, str] = {
    "action": "[ACTION] {k1} - {k2} needed by {day}",
    "re": "Re: Re: {k1} follow-up",
    "quick": "Quick question about the {k1}",
    "fyi": "FYI: {k1} update for this week",
    "reminder": "Reminder: {k1} due {day}",
    "slash": "{k1} / {k2} - status",
    "input": "Need your input on the {k1} by {day}",
    "urgent": "URGENT: {k1} issue, please read",
    "followup": "Follow-up: {k1} and {k2}",
    "review": "Please review: {k1} draft",
    "headsup": "Heads up re the {k1}",
    "sync": "Can we sync on the {k1}?",
}
SUBJECT_TAGS: tuple[str, ...] = (
    "", "[ops]", "[Q3]", "(internal)", "[team-atlas]", "#proj-kite", "- thx", "(pls read)", "[draft]",
    "[finance]", "(EOD)", "[hr]", "!!", "(2 min read)",
)
EMAIL_TOPICS: dict[str, dict] = {
    "meetings": {
        "terms": "weekly sync|team sync; agenda; calendar invite|meeting invite; conference room|meeting room; "
        "action items|next steps; quarterly review; one-on-one; offsite; slide deck|slides; meeting notes|minutes; "
        "time slot; video call link|zoom link; daily standup|standup; retrospective|retro; all-hands; dial-in number; "
        "kickoff meeting; planning session; room booking; recurring series",
        "sents": (
            "Can we move the {t} to later this week?",
            "I added the {t} to the {t} so we can close it out.",
            "The room for the {t} got double-booked, so I moved the {t} as well.",
        ),
    },
    "travel": {
        "terms": "flight|flights; hotel booking|hotel reservation; itinerary|travel plan; expense report|expense "
        "claim; "
        "boarding pass; conference trip; visa letter; rental car|car hire; per diem; travel policy; airport pickup; "
        "layover; client visit; train tickets; receipts; travel approval; conference badge; registration fee; "
        "taxi receipts; seat upgrade",
        "sents": (
            "My {t} got changed, so I need to update the {t}.",
            "Finance asked for the {t} before they approve the {t}.",
            "Can someone confirm the {t} for the {t}?",
        ),
    },
    "budget": {
        "terms": "budget|spending plan; forecast|projection; invoice; purchase order|PO; spreadsheet|sheet; cost "
        "center; "
        "headcount plan; quarter-end close|quarter close; vendor payment; line items; budget approval; variance; "
        "finance team; reimbursement; capital expenses|capex; cost savings; software licenses; burn rate; audit; "
        "budget cuts",
        "sents": (
            "We are over by a few thousand on the {t} because of the {t}.",
            "I updated the {t} with the new {t}.",
            "We need the {t} signed before the {t}.",
        ),
    },
    "hiring": {
        "terms": "candidate|applicant; interview loop|interview panel; job description|job posting; offer letter; "
        "recruiter; "
        "resume|CV; onsite interview; phone screen; reference checks; hiring manager; interview scorecard|feedback "
        "form; "
        "start date; salary band; internship|intern; employee referral; career fair; background check; relocation "
        "package; "
        "open headcount; onboarding plan",
        "sents": (
            "The candidate did well in the {t}, so I would like to move fast on the {t}.",
            "Please fill in the {t} after the {t}.",
            "They asked about the {t} and the {t}.",
        ),
    },
    "outage": {
        "terms": "outage|service disruption; incident; database server|db server; rollback; postmortem|incident "
        "review; "
        "on-call rotation|on-call; pager alerts|alerts; error rate; root cause; hotfix|patch; status page; latency "
        "spike; "
        "deployment|deploy; monitoring dashboard; affected customers; failover; server logs|logs; incident ticket; "
        "maintenance window; load balancer",
        "sents": (
            "The {t} started right after the {t} went out.",
            "We rolled back, and things look normal on the {t} again.",
            "I will write up the {t} once we confirm the {t}.",
        ),
    },
    "launch": {
        "terms": "product launch|release; press release; beta testers|beta users; release notes; marketing plan; "
        "launch date; "
        "landing page; feature freeze; product demo; roadmap; pricing page; launch announcement; customer feedback; "
        "app store listing; QA sign-off; blog post; go-live; webinar; launch partners; launch checklist",
        "sents": (
            "We are on track for the {t} as long as we finish the {t} this week.",
            "Marketing needs the final {t} for the {t}.",
            "Testing raised a few issues with the {t}.",
        ),
    },
    "legal": {
        "terms": "contract|agreement; NDA|non-disclosure agreement; legal review; redlines|tracked changes; "
        "signature|signoff; "
        "terms and conditions; compliance checklist; vendor agreement; liability clause; contract renewal; "
        "counsel|legal team; "
        "amendment; filing deadline; licensing terms; data protection; policy update; intellectual property; dispute; "
        "payment terms; signature envelope",
        "sents": (
            "Legal came back with comments on the {t} and the {t}.",
            "We cannot sign the {t} until we finish the {t}.",
            "Please send the {t} to the {t} today.",
        ),
    },
    "support": {
        "terms": "customer complaint|client complaint; support ticket|ticket; escalation; refund; account manager; "
        "response time; SLA|service level agreement; bug report; workaround; customer call; satisfaction survey; "
        "frustrated client|angry customer; knowledge base; replacement order; chat transcript; priority queue; "
        "renewal risk; case number; apology note; parent ticket",
        "sents": (
            "The {t} has turned into an escalation, and the client is asking about the {t}.",
            "Can we offer the {t} while we work on the {t}?",
            "I shared the {t} and the {t} with engineering.",
        ),
    },
    "training": {
        "terms": "training session|workshop; onboarding; new hires; course module|module; certification; mentor|buddy; "
        "training slides; employee handbook; quiz; learning portal; lunch and learn; training schedule; sign-up sheet; "
        "compliance training; facilitator|trainer; feedback survey; session recording; available seats; prerequisites; "
        "lab environment",
        "sents": (
            "I posted the {t} for the {t} on the portal.",
            "Please make sure everyone finishes the {t} this month.",
            "I booked the {t} and shared the {t}.",
        ),
    },
    "facilities": {
        "terms": "office move|relocation; desks; parking permits|parking; badge access|key cards; office "
        "kitchen|kitchen; "
        "printer; air conditioning|heating; cleaning crew; seating plan|floor plan; moving boxes|boxes; phone booths; "
        "maintenance request; office wifi|wifi; lockers; furniture; fire drill; visitor passes; building management; "
        "lights; storage room",
        "sents": (
            "The {t} on the third floor stopped working again, so I reported it along with the {t}.",
            "Before the {t}, please pack your {t}.",
            "The {t} will be updated after the {t}.",
        ),
    },
}

# --------------------------------------------------------------------------- LaMP-7
# Slang groups: the first variant is the neutral wording used in the paraphrased input;
# each user has a fixed casual variant per group. Terms here carry their own determiner.
SLANG: dict[str, tuple[str, ...]] = {
    "very": ("very", "so", "sooo", "super", "hella", "mad"),
    "i_am": ("I am", "I'm", "im"),
    "going_to": ("going to", "gonna"),
    "cannot": ("cannot", "can't", "cant"),
    "want_to": ("want to", "wanna"),
    "honestly": ("honestly", "tbh", "ngl", "lowkey", "fr"),
    "good": ("good", "amazing", "fire", "elite", "unreal", "top tier"),
    "bad": ("bad", "terrible", "the worst", "trash", "tragic"),
    "tired": ("tired", "exhausted", "dead", "wiped", "done"),
    "friends": ("my friends", "the crew", "my people", "the squad", "the gang"),
    "now": ("right now", "rn", "atm"),
    "love": ("really like", "love", "adore", "live for"),
    "wow": ("", "wow", "omg", "yo", "bruh", "man"),
    "laugh": ("", "lol", "haha", "lmao"),
}
CATCHPHRASES: tuple[str, ...] = (
    "no cap", "just saying", "vibes only", "send help", "living the dream", "as one does", "what a time",
    "every single time", "10/10", "can confirm", "not even sorry", "story of my life", "we move", "big mood",
    "it is what it is", "zero regrets", "stay tuned", "peak chaos",
)
TWEET_OPENERS: tuple[str, ...] = (
    "Ok so", "Update:", "PSA:", "Hot take:", "Daily reminder:", "Real talk:", "Confession:", "Quick thought:",
    "Fun fact:", "Breaking:", "Note to self:", "Honest review:",
)
TWEET_ENDINGS: tuple[str, ...] = ("", "!", "!!", "...", " :)", " :/", "?!")
TWEET_GENERIC: tuple[str, ...] = (
    "{honestly} {t} {now} is exactly what I needed",
    "{i_am} {very} {tired} of {t} {laugh}",
    "nothing beats {t} on a {day}",
    "{cannot} stop thinking about {t}",
    "{wow} I {love} {t} more than I should",
    "{t} was {bad} today and {i_am} not okay",
)
TWEET_TOPICS: dict[str, dict] = {
    "food": {
        "hashtags": ("#foodie", "#nomnom", "#eats", "#snacktime", "#brunchclub", "#foodcoma", "#chefmode", "#yum"),
        "terms": "pizza|pie; tacos; ramen|noodle soup; a burger|a cheeseburger; sushi; pancakes|flapjacks; leftovers; "
        "brunch; hot sauce; the food truck; dinner; snacks|munchies; a salad; dessert; the bakery; fries; curry; "
        "a sandwich; a breakfast burrito; ice cream",
        "sents": (
            "{wow} {i_am} {very} hungry and the {t} place down the street is closed {laugh}",
            "{honestly} the {t} from last night was {good}",
            "{i_am} {going_to} make {t} for dinner and nobody can stop me",
            "{want_to} try that new spot for {t} with {friends} this weekend",
            "{cannot} believe someone put {t} on {t}",
        ),
    },
    "sports": {
        "hashtags": (
            "#gameday", "#letsgo", "#fantasyfootball", "#matchday",
            "#sportsfan", "#bleedblue", "#playoffs", "#gotime",
        ),
        "terms": "the game|the match; overtime; the refs|the referees; my team; the playoffs; my fantasy league; "
        "that touchdown; the final score; halftime; that goal; the coach; season tickets; the draft; the highlights; "
        "the pregame show; my jersey; the lineup; a buzzer beater; the derby; the stadium",
        "sents": (
            "{wow} {t} went to {t} and my heart {cannot} take it",
            "{honestly} {t} were {bad} tonight {laugh}",
            "{i_am} {going_to} wear {t} until {t} wins again",
            "{t} was {good}, {friends} lost their minds",
            "{want_to} watch {t} again {now}",
        ),
    },
    "commute": {
        "hashtags": (
            "#commutelife", "#mondays", "#transit", "#stuckintraffic",
            "#biketowork", "#citylife", "#nineto5", "#delayed",
        ),
        "terms": "traffic|gridlock; the train|the subway; the bus; my commute|the ride to work; parking; the delays; "
        "the highway; road construction; rush hour; my bike; the ferry; my metro card; the detour; potholes; "
        "a flat tire; the platform; the express lane; the carpool; the tunnel; the last train",
        "sents": (
            "{wow} {t} is {bad} again and {i_am} late {laugh}",
            "{t} plus {t} on a {day}, {very} fun",
            "{i_am} {going_to} start taking {t} instead of {t}",
            "{honestly} {t} this morning was {good} for once",
            "stuck in {t} for an hour, {i_am} {tired}",
        ),
    },
    "music": {
        "hashtags": (
            "#nowplaying", "#newmusic", "#livemusic", "#vinylcollection",
            "#concertseason", "#onrepeat", "#playlist", "#earworm",
        ),
        "terms": "the new album|the new record; the concert|the show; my playlist; the band; the chorus; my "
        "headphones; "
        "vinyl; the opening act; the setlist; my guitar; the encore; that song; the festival; the live album; "
        "the drummer; the soundtrack; karaoke night; the tour; a remix; the lyrics",
        "sents": (
            "{honestly} {t} is {good}, {i_am} playing it on repeat",
            "{wow} {t} had the best {t} I have ever heard",
            "{i_am} {going_to} see {t} with {friends} and {i_am} {very} ready",
            "{cannot} get {t} out of my head {laugh}",
            "{t} is {bad} but {t} saves it",
        ),
    },
    "weather": {
        "hashtags": (
            "#weather", "#rainyday", "#snowday", "#heatwave",
            "#sweaterweather", "#forecast", "#sunnyday", "#stormwatch",
        ),
        "terms": "the rain|the downpour; the snow; the heat|this heatwave; the humidity; a thunderstorm; my umbrella; "
        "the sunshine|the sun; the wind; the fog; the forecast; the hail; the frost; a cold front; the puddles; "
        "a sunburn; the sky; sweater weather; the storm; ice on the roads; spring",
        "sents": (
            "{wow} {t} is {bad} today and I forgot {t}",
            "{honestly} {t} {now} is {good}",
            "{t} said sunny, {t} disagrees {laugh}",
            "{i_am} {very} done with {t}",
            "{love} {t} but not {t}",
        ),
    },
    "work": {
        "hashtags": (
            "#worklife", "#mondaymotivation", "#officelife", "#deadlines",
            "#wfh", "#hustle", "#meetingsforever", "#tgif",
        ),
        "terms": "meetings; my inbox|my email; the deadline; my boss|my manager; the spreadsheet; the office; my "
        "laptop; "
        "my coworkers|my colleagues; the printer; a conference call; friday; overtime; a promotion; the standup; "
        "the project; my lunch break; the slack messages; my desk; the presentation; my performance review",
        "sents": (
            "{wow} {t} could have been an email {laugh}",
            "{i_am} {very} {tired} and {t} is still open",
            "{honestly} {t} went {good} today",
            "{t} broke again, {i_am} {going_to} scream",
            "{want_to} skip {t} and go home {now}",
        ),
    },
    "pets": {
        "hashtags": (
            "#dogsofinstagram", "#catsoftwitter", "#petlife", "#goodboy",
            "#adoptdontshop", "#furbaby", "#puppylove", "#caturday",
        ),
        "terms": "my dog|the pup; my cat|the kitty; the vet; our walk; the treats; the leash; the litter box; a "
        "squirrel; "
        "the dog park; bath time; the zoomies; nap time; the couch; the mailman; a new toy; the fish tank; the "
        "hamster; "
        "the kibble; the groomer; belly rubs",
        "sents": (
            "{t} saw {t} and lost it {laugh}",
            "{honestly} {t} is {very} dramatic about {t}",
            "{wow} {t} hates {t} but {love} {t}",
            "{t} stole {t} again, {i_am} {tired}",
            "{t} after {t} is {good}",
        ),
    },
    "tv": {
        "hashtags": (
            "#bingewatch", "#nospoilers", "#tvtime", "#seasonfinale",
            "#movienight", "#netflixandchill", "#plottwist", "#fandom",
        ),
        "terms": "the finale|the season finale; the new episode; spoilers; the series; binge watching|a marathon; "
        "the trailer; "
        "the plot twist; the villain; the subtitles; the remote; my streaming queue; the cast; the reboot; "
        "the pilot episode; a documentary; the cliffhanger; the sequel; popcorn; the credits; the premiere",
        "sents": (
            "{wow} {t} was {good}, {i_am} not okay {laugh}",
            "{honestly} {t} ruined {t} for me",
            "{i_am} {going_to} finish {t} tonight with {t}",
            "{cannot} wait for {t} after {t}",
            "no {t} please, {i_am} watching {t} {now}",
        ),
    },
    "fitness": {
        "hashtags": (
            "#fitfam", "#legday", "#gymlife", "#runnersofinstagram",
            "#noexcuses", "#sweat", "#fitnessjourney", "#yogalife",
        ),
        "terms": "the gym; leg day; my run|a run; yoga; push-ups; the treadmill; a personal best; my protein shake; "
        "sore muscles; stretching; cardio; the squat rack; a 5k; the spin class; my trainer; my step count; the pool; "
        "the weights; rest day; the hike",
        "sents": (
            "{wow} {t} destroyed me, {i_am} {tired}",
            "{honestly} {t} felt {good} today",
            "{i_am} {going_to} hit {t} before work",
            "skipped {t} for {t} {laugh}",
            "{t} and then {t}, {very} proud of myself",
        ),
    },
    "coffee": {
        "hashtags": (
            "#coffeetime", "#butfirstcoffee", "#caffeinated", "#latteart",
            "#coldbrew", "#coffeeaddict", "#morningbrew", "#espresso",
        ),
        "terms": "coffee|brew; espresso; latte; the barista; cold brew; my mug; caffeine; the coffee shop|the cafe; "
        "decaf; oat milk; double shots; the french press; the morning cup; the beans; iced coffee; the line at the "
        "cafe; "
        "cappuccino; the grinder; refills; tea",
        "sents": (
            "{wow} {t} {now} is {good}",
            "{i_am} on my third {t} and it is not even noon {laugh}",
            "{t} spelled my name wrong again",
            "{honestly} {t} is {bad} without {t}",
            "{want_to} live at {t} {now}",
        ),
    },
}
